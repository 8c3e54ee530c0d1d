package io.github.resilientcheckpoints.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.ResilientStateOutputStream;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.storage.WorkerServices;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import io.github.resilientcheckpoints.testing.SmallDisk;
import io.github.resilientcheckpoints.testing.SpillFiles;
import io.github.resilientcheckpoints.testing.Workers;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Spill on a real small file system. {@code .ci/run} mounts a 64 MiB tmpfs when it runs as root and
 * passes it in {@code RCS_SMALL_DISK}; elsewhere these tests are skipped, saying so.
 */
class SmallDiskIT {

    static final long MB = 1 << 20;
    static final long FLOOR = 8 * MB;

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    @TempDir java.nio.file.Path remote;

    private java.nio.file.Path disk;
    private final ExecutorService executor = Executors.newCachedThreadPool();

    @BeforeEach
    void smallDisk() throws IOException {
        java.util.Optional<java.nio.file.Path> small = SmallDisk.location();
        assumeTrue(
                small.isPresent(),
                "RCS_SMALL_DISK is not set: these tests need a small mounted file system (.ci/run mounts"
                        + " a 64 MiB tmpfs when run as root)");
        disk = small.get();
        assumeTrue(
                Files.getFileStore(disk).getTotalSpace() <= 256 * MB,
                "RCS_SMALL_DISK must be a small file system (<= 256 MiB), is "
                        + Files.getFileStore(disk).getTotalSpace());
        assertThat(freeBytes())
                .as("small disk starts (almost) empty")
                .isGreaterThan(Files.getFileStore(disk).getTotalSpace() - 2 * MB);
    }

    @AfterEach
    void cleanUp(@InjectMiniCluster MiniCluster cluster) throws Exception {
        // Flink's extension leaves a test's jobs running: they end before their disk is emptied.
        MiniClusters.endAllJobs(cluster);
        executor.shutdownNow();
        assertThat(executor.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        if (disk != null) {
            try (Stream<java.nio.file.Path> files = Files.walk(disk)) {
                for (java.nio.file.Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    if (!p.equals(disk)) {
                        Files.deleteIfExists(p);
                    }
                }
            }
        }
    }

    private long freeBytes() throws IOException {
        return Files.getFileStore(disk).getUsableSpace();
    }

    private SpillSpace space(SpillFallback policy, long memoryBudget) throws IOException {
        return space(policy, memoryBudget, Duration.ofMillis(200));
    }

    /**
     * A spill space that reads the disk's free space at most every {@code probeInterval}. The tests
     * of a disk filled mid-write use an hour: the filler then takes the disk after the stream's
     * space was probed and before its next write, so the write itself fails (ENOSPC). With 200 ms,
     * a filler slower than that (a busy machine) is seen by the next probe instead, and the stream
     * falls back before writing: right too, but not the path those tests are for (a full run saw
     * "spillFallbacksNoSpace"=1 where "spillFallbacksWriteFailed"=1 was expected).
     */
    private SpillSpace space(SpillFallback policy, long memoryBudget, Duration probeInterval)
            throws IOException {
        return new SpillSpace(
                List.of(disk),
                new SpillLimits(
                        FLOOR, 0.0, Long.MAX_VALUE, 4 * MB, probeInterval, policy, memoryBudget),
                FreeSpaceProbe.FILE_STORE,
                Ticker.SYSTEM);
    }

    private ResilientStateOutputStream stream(WorkerServices services) {
        return new ResilientStateOutputStream(
                new Path(remote.toUri()),
                true,
                20 * 1024,
                64 * 1024,
                services,
                Ticker.SYSTEM.nanoTime() + TimeUnit.MINUTES.toNanos(5));
    }

    @Test
    void concurrentStreamsLargerThanTheDiskAllCompleteAndNeverCrossTheFloor() throws Exception {
        StorageMetrics metrics = new StorageMetrics();
        SpillSpace space = space(SpillFallback.MEMORY, 256 * MB);
        WorkerServices services =
                Workers.services(
                        new FlinkFileSystemStore(),
                        Workers.fastPolicy(3),
                        executor,
                        space,
                        metrics,
                        Redactor.NONE);
        AtomicLong minFree = new AtomicLong(Long.MAX_VALUE);
        AtomicBoolean watching = new AtomicBoolean(true);
        Future<?> watcher =
                executor.submit(
                        () -> {
                            while (watching.get()) {
                                minFree.accumulateAndGet(freeBytes(), Math::min);
                                Thread.onSpinWait();
                            }
                            return null;
                        });
        int streams = 6;
        long size = 24 * MB; // 6 x 24 MiB = 144 MiB through a 64 MiB disk
        List<Future<StreamStateHandle>> results = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            long seed = i;
            results.add(
                    executor.submit(
                            () -> {
                                ResilientStateOutputStream out = stream(services);
                                Random random = new Random(seed);
                                byte[] chunk = new byte[256 * 1024];
                                for (long written = 0; written < size; written += chunk.length) {
                                    random.nextBytes(chunk);
                                    out.write(chunk);
                                }
                                return out.closeAndGetHandle();
                            }));
        }
        List<StreamStateHandle> handles = new ArrayList<>();
        for (Future<StreamStateHandle> f : results) {
            handles.add(f.get(120, TimeUnit.SECONDS));
        }
        watching.set(false);
        watcher.get(10, TimeUnit.SECONDS);

        for (int i = 0; i < streams; i++) {
            assertThat(handles.get(i).getStateSize()).isEqualTo(size);
            assertSameBytes(handles.get(i), i, size);
        }
        assertThat(minFree.get())
                .as("free space on the small disk never went below the floor")
                .isGreaterThanOrEqualTo(FLOOR);
        assertThat(metrics.spillBytes()).as("the disk was used").isPositive();
        assertThat(metrics.fallbacks()).as("it did not hold everything").isPositive();
        assertThat(spillFiles()).isEmpty();
        assertThat(space.reservedBytes()).isZero();
        assertThat(space.memoryBudget().used()).isZero();
    }

    @Test
    void fillerTakingTheDiskMidWriteFallsBackToMemoryAndCompletes() throws Exception {
        StorageMetrics metrics = new StorageMetrics();
        SpillSpace space = space(SpillFallback.MEMORY, 128 * MB, Duration.ofHours(1));
        WorkerServices services =
                Workers.services(
                        new FlinkFileSystemStore(),
                        Workers.fastPolicy(3),
                        executor,
                        space,
                        metrics,
                        Redactor.NONE);
        ResilientStateOutputStream out = stream(services);
        byte[] data = new byte[32 * (int) MB];
        new Random(7).nextBytes(data);
        out.write(data, 0, 8 * (int) MB);
        assertThat(spillFiles()).hasSize(1);

        fillDisk();
        assertThat(freeBytes()).as("the filler took the disk to 100 %").isLessThan(MB);

        out.write(data, 8 * (int) MB, data.length - 8 * (int) MB);
        StreamStateHandle handle = out.closeAndGetHandle();
        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(metrics.snapshot()).containsEntry("spillFallbacksWriteFailed", 1L);
        assertThat(spillFiles()).isEmpty();
        assertThat(space.memoryBudget().used()).isZero();
    }

    @Test
    void fillerTakingTheDiskMidWriteFailsClearlyUnderFailPolicy() throws Exception {
        StorageMetrics metrics = new StorageMetrics();
        SpillSpace space = space(SpillFallback.FAIL, 0, Duration.ofHours(1));
        WorkerServices services =
                Workers.services(
                        new FlinkFileSystemStore(),
                        Workers.fastPolicy(3),
                        executor,
                        space,
                        metrics,
                        Redactor.NONE);
        ResilientStateOutputStream out = stream(services);
        byte[] data = new byte[16 * (int) MB];
        new Random(8).nextBytes(data);
        out.write(data, 0, 4 * (int) MB);
        fillDisk();
        assertThatThrownBy(() -> out.write(data, 4 * (int) MB, data.length - 4 * (int) MB))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("No space left on device")
                .hasMessageContaining(disk.toString())
                .hasMessageContaining("floor 8.0 MiB");
        out.close();
        assertThat(spillFiles()).as("no half file left").isEmpty();
        try (Stream<java.nio.file.Path> s = Files.list(remote)) {
            assertThat(s.toList()).isEmpty();
        }
    }

    @Test
    void jobWhoseStateIsLargerThanTheOnlySpillDiskCheckpointsAndRestoresExactly(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        int payload = 200 * 1024; // 400 keys x 200 KiB = 80 MiB of state, the disk has 64 MiB
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(),
                        "hashmap",
                        remote.toUri().toString());
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(disk.toString()));
        conf.set(ResilientCheckpointOptions.SPILL_FLOOR, MemorySize.parse("8 mb"));
        conf.set(
                ResilientCheckpointOptions.SPILL_FALLBACK_MEMORY_BUDGET,
                MemorySize.parse("160 mb"));
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(500));
        StorageMetrics metrics = StorageRuntime.shared().metrics();
        long spilledBefore = metrics.spillBytes();

        CountingJob.resetCounters();
        JobID job = CountingJob.start(cluster, conf, payload);
        CountingJob.awaitChecked(cluster, job, 2L * CountingJob.KEYS);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 2);
        assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
        CountingJob.cancel(cluster, job);
        // Read after the cancel: a checkpoint completing meanwhile would subsume an earlier pick.
        String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
        assertThat(CountingJob.MISMATCHES.get()).isZero();
        assertThat(metrics.spillBytes() - spilledBefore)
                .as("the small disk staged state")
                .isPositive();

        CountingJob.verifyRestore(cluster, conf, checkpoint, payload);
        assertThat(SpillFiles.awaitNone(disk.resolve(SpillSpace.SUBDIR))).isEmpty();
    }

    /** A real process writes zeros until the disk is full (dd exits with ENOSPC). */
    private void fillDisk() throws Exception {
        Process dd =
                new ProcessBuilder("dd", "if=/dev/zero", "of=" + disk.resolve("filler"), "bs=1M")
                        .redirectErrorStream(true)
                        .start();
        dd.getInputStream().readAllBytes();
        assertThat(dd.waitFor(60, TimeUnit.SECONDS)).isTrue();
    }

    private List<java.nio.file.Path> spillFiles() throws IOException {
        return SpillFiles.under(disk.resolve(SpillSpace.SUBDIR));
    }

    private static byte[] readAll(StreamStateHandle handle) throws IOException {
        try (FSDataInputStream in = handle.openInputStream()) {
            return in.readAllBytes();
        }
    }

    private static void assertSameBytes(StreamStateHandle handle, long seed, long size)
            throws IOException {
        Random random = new Random(seed);
        byte[] expected = new byte[256 * 1024];
        byte[] actual = new byte[expected.length];
        try (FSDataInputStream in = handle.openInputStream()) {
            for (long read = 0; read < size; read += expected.length) {
                random.nextBytes(expected);
                int n = in.readNBytes(actual, 0, actual.length);
                assertThat(n).isEqualTo(actual.length);
                assertThat(actual).isEqualTo(expected);
            }
            assertThat(in.read()).isEqualTo(-1);
        }
    }
}
