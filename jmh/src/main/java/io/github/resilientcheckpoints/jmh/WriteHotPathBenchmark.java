package io.github.resilientcheckpoints.jmh;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.storage.ResilientStateOutputStream;
import io.github.resilientcheckpoints.storage.WorkerServices;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.Ticker;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.StreamStateHandle;
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

import java.io.BufferedOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * One checkpoint state file of {@value #STATE_BYTES} bytes, written in {@code writeSize} pieces and
 * finished, on the same local disk, three ways:
 *
 * <ul>
 *   <li>{@code ours}: {@link ResilientStateOutputStream} — buffer, spill file, then upload (a copy
 *       through Flink's local {@code FileSystem} with {@code sync}) in {@code closeAndGetHandle()};
 *   <li>{@code flink}: Flink's {@link FsCheckpointStreamFactory.FsCheckpointStateOutputStream},
 *       writing the final file directly (with {@code sync}) up to {@code closeAndGetHandle()};
 *   <li>{@code plain}: {@code BufferedOutputStream(FileOutputStream)}, no sync: the floor.
 * </ul>
 *
 * Each operation ends by deleting what it wrote, the same for all three. Score: operations per
 * second; multiply by {@value #STATE_BYTES} for bytes per second.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class WriteHotPathBenchmark {

    static final int STATE_BYTES = 32 << 20;

    @Param({"4096", "65536"})
    public int writeSize;

    private java.nio.file.Path root;
    private java.nio.file.Path remote;
    private byte[] piece;
    private ExecutorService executor;
    private WorkerServices services;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        root = Files.createTempDirectory("rcs-jmh");
        remote = Files.createDirectories(root.resolve("remote"));
        piece = new byte[writeSize];
        new Random(1).nextBytes(piece);
        executor = Executors.newCachedThreadPool();
        StorageMetrics metrics = new StorageMetrics();
        SpillSpace space = new SpillSpace(List.of(root.resolve("spill")),
                new SpillLimits(0, 0.0, Long.MAX_VALUE, 4 << 20, Duration.ofSeconds(1),
                        SpillLimits.FallbackPolicy.MEMORY, 64 << 20),
                FreeSpaceProbe.FILE_STORE, Ticker.SYSTEM);
        RetryingUploader uploader = new RetryingUploader(new FlinkFileSystemStore(),
                new RetryPolicy(3, Duration.ofMillis(10), Duration.ofMillis(100), Duration.ofMinutes(1)),
                executor, Ticker.SYSTEM, RetryingUploader.threadLocalRandom(), metrics, Redactor.NONE);
        services = new WorkerServices(uploader, space, metrics, Ticker.SYSTEM, Duration.ofMinutes(10).toNanos());
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException, InterruptedException {
        executor.shutdownNow();
        executor.awaitTermination(10, TimeUnit.SECONDS);
        try (Stream<java.nio.file.Path> files = Files.walk(root)) {
            for (java.nio.file.Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Benchmark
    public long ours() throws Exception {
        ResilientStateOutputStream out = new ResilientStateOutputStream(new Path(remote.toUri()), true,
                20 * 1024, 20 * 1024, services, System.nanoTime() + TimeUnit.MINUTES.toNanos(5));
        return finish(writeAll(out).closeAndGetHandle());
    }

    @Benchmark
    public long flink() throws Exception {
        FsCheckpointStreamFactory.FsCheckpointStateOutputStream out =
                new FsCheckpointStreamFactory.FsCheckpointStateOutputStream(new Path(remote.toUri()),
                        FileSystem.getLocalFileSystem(), 20 * 1024, 20 * 1024, true);
        return finish(writeAll(out).closeAndGetHandle());
    }

    @Benchmark
    public long plain() throws IOException {
        java.nio.file.Path file = remote.resolve(UUID.randomUUID().toString());
        try (OutputStream out = new BufferedOutputStream(new FileOutputStream(file.toFile()), 20 * 1024)) {
            for (int written = 0; written < STATE_BYTES; written += piece.length) {
                out.write(piece);
            }
        }
        long size = Files.size(file);
        Files.delete(file);
        return size;
    }

    private <T extends CheckpointStateOutputStream> T writeAll(T out) throws IOException {
        for (int written = 0; written < STATE_BYTES; written += piece.length) {
            out.write(piece);
        }
        return out;
    }

    private static long finish(StreamStateHandle handle) throws Exception {
        long size = handle.getStateSize();
        handle.discardState();
        return size;
    }
}
