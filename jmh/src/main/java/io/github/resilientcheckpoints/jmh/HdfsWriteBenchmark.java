package io.github.resilientcheckpoints.jmh;

import java.io.IOException;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * One checkpoint state file of {@code stateMiB} MiB written to a real HDFS ({@code MiniDFSCluster}
 * in the benchmark's JVM: one NameNode, one DataNode, replication 1, on loopback) up to its handle:
 *
 * <ul>
 *   <li>{@code ours}: {@code ResilientStateOutputStream} with the HDFS store — spill file,
 *       following write into the hidden temporary file, {@code hsync} + rename in {@code
 *       closeAndGetHandle()};
 *   <li>{@code flink}: Flink's {@code FsCheckpointStateOutputStream} through Flink's {@code
 *       HadoopFileSystem}, writing into the DataNode pipeline, {@code hsync} at the end.
 * </ul>
 *
 * Score: operations per second; multiply by {@code stateMiB} for MiB per second.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class HdfsWriteBenchmark {

    @Param({"4096", "65536"})
    public int writeSize;

    @Param({"32"})
    public int stateMiB;

    private Targets target;
    private byte[] piece;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        target = Targets.hdfs();
        piece = new byte[writeSize];
        new Random(1).nextBytes(piece);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        target.close();
    }

    @Benchmark
    public long ours() throws Exception {
        return target.writeCloseAndDiscard(target.ours(), piece, (long) stateMiB << 20);
    }

    @Benchmark
    public long flink() throws Exception {
        return target.writeCloseAndDiscard(target.flink(), piece, (long) stateMiB << 20);
    }
}
