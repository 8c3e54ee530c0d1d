package io.github.resilientcheckpoints.jmh;

import java.io.IOException;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.StreamStateHandle;
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
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Time inside {@code closeAndGetHandle()} only: before each measured call, a 32 MiB state file is
 * written in 64 KiB pieces (not measured), and the call happens right after the last write, as a
 * snapshot does. {@code flink} flushes its buffer and syncs. {@code ours}, on the local disk with
 * the spill directory on the same disk ({@code local}), syncs the spill file, which it wrote in
 * place under its name; with the spill directory on a tmpfs ({@code local-spill-on-tmpfs}) and on
 * HDFS, it sends the tail the following write has not yet read and commits. HDFS is a real one
 * ({@code MiniDFSCluster}, see {@link HdfsWriteBenchmark}). One call per iteration (single shot).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class CloseLatencyBenchmark {

    static final long STATE_BYTES = 32 << 20;

    @Param({"local", "local-spill-on-tmpfs", "hdfs"})
    public String store;

    /**
     * Diagnosis only: a pause after the last write, before the measured call (not measured). With a
     * pause, ours' following write has caught up, and its close is the commit alone.
     */
    @Param({"0"})
    public long settleMillis;

    private Targets target;
    private byte[] piece;

    /** The stream the measured call closes: only that one is written before it. */
    private CheckpointStateOutputStream open;

    private StreamStateHandle written;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        target =
                switch (store) {
                    case "hdfs" -> Targets.hdfs();
                    case "local-spill-on-tmpfs" -> Targets.localSpillingElsewhere();
                    default -> Targets.local();
                };
        piece = new byte[64 * 1024];
        new Random(1).nextBytes(piece);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        target.close();
    }

    @Setup(Level.Iteration)
    public void writeState(BenchmarkParams params) throws IOException, InterruptedException {
        open =
                Targets.writeAll(
                        params.getBenchmark().endsWith(".ours") ? target.ours() : target.flink(),
                        piece,
                        STATE_BYTES);
        if (settleMillis > 0) {
            Thread.sleep(settleMillis);
        }
    }

    @TearDown(Level.Iteration)
    public void discard() throws Exception {
        if (written != null) {
            target.discard(written);
            written = null;
        }
        open.close();
    }

    @Benchmark
    public StreamStateHandle ours() throws IOException {
        written = open.closeAndGetHandle();
        return written;
    }

    @Benchmark
    public StreamStateHandle flink() throws IOException {
        written = open.closeAndGetHandle();
        return written;
    }
}
