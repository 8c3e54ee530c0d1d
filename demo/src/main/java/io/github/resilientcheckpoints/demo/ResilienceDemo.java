package io.github.resilientcheckpoints.demo;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.storage.StorageRuntime;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.List;

/**
 * The main job of the README's quick start. A keyed Flink job (RocksDB, incremental checkpoints)
 * checkpoints every 200 ms through Resilient Checkpoint Storage into a local directory while a
 * quarter of all upload attempts fail on purpose. It runs until {@value #CHECKPOINTS} checkpoints
 * completed, is cancelled, then restored from its last checkpoint, and the restored job checks
 * every key's counter against the input. Nothing external is needed: Flink runs in-process.
 */
public final class ResilienceDemo {

    static final int CHECKPOINTS = 10;
    static final double FAULT_RATIO = 0.25;

    private ResilienceDemo() {}

    /** What a run showed. */
    public record Result(
            long checkpointsCompleted,
            long checkpointsFailed,
            long uploads,
            long retries,
            long mismatches,
            long restoredKeys,
            String restoredFrom) {

        public boolean passed() {
            return checkpointsCompleted >= CHECKPOINTS && checkpointsFailed == 0 && retries > 0
                    && mismatches == 0 && restoredKeys == CountingJob.KEYS;
        }
    }

    public static void main(String[] args) throws Exception {
        Result result = run(System.out);
        System.exit(result.passed() ? 0 : 1);
    }

    public static Result run(PrintStream out) throws Exception {
        Path work = Files.createTempDirectory("resilient-checkpoint-demo");
        try {
            return run(work, out);
        } finally {
            deleteRecursively(work);
        }
    }

    @SuppressWarnings("try") // MiniCluster.close() may throw InterruptedException; the caller propagates it
    static Result run(Path work, PrintStream out) throws Exception {
        Path checkpoints = Files.createDirectories(work.resolve("checkpoints"));
        Path spill = Files.createDirectories(work.resolve("spill"));

        Configuration job = CountingJob.config(
                ResilientCheckpointStorageFactory.class.getName(), "rocksdb", checkpoints.toUri().toString());
        job.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        job.set(ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO, FAULT_RATIO);
        job.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(10));
        job.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(200));

        Configuration clusterConf = new Configuration();
        clusterConf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.ofMebiBytes(128));
        MiniClusterConfiguration cfg = new MiniClusterConfiguration.Builder()
                .setConfiguration(clusterConf)
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(4)
                .build();
        StorageMetrics metrics =
                StorageRuntime.shared().metrics();

        out.printf("Resilient Checkpoint Storage demo%n  checkpoints: %s%n  spill:       %s%n"
                + "  injected transient upload failures: %.0f %% of attempts; tolerable failed checkpoints: 0%n",
                checkpoints, spill, FAULT_RATIO * 100);
        try (MiniCluster cluster = new MiniCluster(cfg)) {
            cluster.start();

            CountingJob.resetCounters();
            JobID first = CountingJob.start(cluster, job);
            long seen = 0;
            while (seen < CHECKPOINTS) {
                CountingJob.awaitCompletedCheckpoints(cluster, first, seen + 1);
                seen = CountingJob.stats(cluster, first).getCounts().getNumberOfCompletedCheckpoints();
                // Failed = started and failed; triggers refused while tasks were still deploying are
                // not checkpoints that could fail on upload, and Flink does not count them as such.
                out.printf("  checkpoints completed %2d, failed %d | uploads %4d, retries %4d, bytes %,d%n",
                        seen, CountingJob.failureMessages(cluster, first).size(), metrics.uploadsSucceeded(),
                        metrics.retries(), metrics.bytesUploaded());
            }
            long failed = CountingJob.failureMessages(cluster, first).size();
            String latest = CountingJob.latestCheckpointPath(cluster, first);
            CountingJob.cancel(cluster, first);
            long mismatchesBefore = CountingJob.MISMATCHES.get();
            out.printf("Cancelled after %d records; restoring from %s%n", CountingJob.CHECKED.get(), latest);

            CountingJob.resetCounters();
            JobID second = CountingJob.start(cluster, CountingJob.restoringFrom(job, latest));
            CountingJob.awaitChecked(cluster, second, 3L * CountingJob.KEYS);
            CountingJob.awaitCompletedCheckpoints(cluster, second, 2);
            failed += CountingJob.failureMessages(cluster, second).size();
            CountingJob.cancel(cluster, second);

            Result result = new Result(seen, failed, metrics.uploadsSucceeded(), metrics.retries(),
                    mismatchesBefore + CountingJob.MISMATCHES.get(), CountingJob.RESTORED_KEYS.get(), latest);
            out.printf("Restored job checked %d records: %d of %d keys came back with their counts,"
                            + " %d mismatches%n",
                    CountingJob.CHECKED.get(), result.restoredKeys(), CountingJob.KEYS, result.mismatches());
            out.printf("%s: %d checkpoints completed, %d failed, %d uploads needed %d retries;"
                            + " restored state exact: %s%n",
                    result.passed() ? "PASS" : "FAIL", result.checkpointsCompleted(),
                    result.checkpointsFailed(), result.uploads(), result.retries(),
                    result.mismatches() == 0 && result.restoredKeys() == CountingJob.KEYS);
            return result;
        }
    }

    private static void deleteRecursively(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
