package io.github.resilientcheckpoints.jmh;

import io.github.resilientcheckpoints.storage.ResilientStateOutputStream;
import java.io.BufferedOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStreamFactory;
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
 * One checkpoint state file of {@code stateMiB} MiB, written in {@code writeSize} pieces and
 * finished, on the same local disk, three ways:
 *
 * <ul>
 *   <li>{@code ours}: {@link ResilientStateOutputStream} — buffer and spill file on the same disk
 *       as the target, written in the checkpoint directory under its name; {@code
 *       closeAndGetHandle()} syncs it (the generic store's spill adoption);
 *   <li>{@code oursSpillOnTmpfs}: the same with the spill directory on {@code /dev/shm}, another
 *       file system: the generic store's following write copies the spill file to the target on an
 *       upload thread while the state is still written; tail + {@code sync} in {@code
 *       closeAndGetHandle()};
 *   <li>{@code flink}: Flink's {@link FsCheckpointStreamFactory.FsCheckpointStateOutputStream},
 *       writing the final file directly (with {@code sync}) up to {@code closeAndGetHandle()};
 *   <li>{@code plain}: {@code BufferedOutputStream(FileOutputStream)}, no sync: the floor.
 * </ul>
 *
 * Each operation ends by deleting what it wrote, the same for all three. Score: operations per
 * second; multiply by {@code stateMiB} for MiB per second.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class WriteHotPathBenchmark {

    @Param({"4096", "65536"})
    public int writeSize;

    @Param({"32", "256"})
    public int stateMiB;

    private Targets target;
    private Targets spillingElsewhere;
    private byte[] piece;
    private long stateBytes;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        target = Targets.local();
        spillingElsewhere = Targets.localSpillingElsewhere();
        piece = new byte[writeSize];
        new Random(1).nextBytes(piece);
        stateBytes = (long) stateMiB << 20;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        target.close();
        spillingElsewhere.close();
    }

    @Benchmark
    public long ours() throws Exception {
        return target.writeCloseAndDiscard(target.ours(), piece, stateBytes);
    }

    @Benchmark
    public long oursSpillOnTmpfs() throws Exception {
        return spillingElsewhere.writeCloseAndDiscard(spillingElsewhere.ours(), piece, stateBytes);
    }

    @Benchmark
    public long flink() throws Exception {
        return target.writeCloseAndDiscard(target.flink(), piece, stateBytes);
    }

    @Benchmark
    public long plain() throws IOException {
        Path file = Paths.get(target.directory.toUri()).resolve(UUID.randomUUID().toString());
        try (OutputStream out =
                new BufferedOutputStream(new FileOutputStream(file.toFile()), Targets.BUFFER)) {
            for (long written = 0; written < stateBytes; written += piece.length) {
                out.write(piece);
            }
        }
        long size = Files.size(file);
        Files.delete(file);
        return size;
    }
}
