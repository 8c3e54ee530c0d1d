package io.github.resilientcheckpoints.demo;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;

/**
 * The main job of the README's quick start. A keyed Flink job (RocksDB, incremental checkpoints)
 * checkpoints every 200 ms through Resilient Checkpoint Storage to {@code s3://} on an S3 server
 * running in this JVM (S3Proxy on 127.0.0.1) that answers every {@value #SLOW_DOWN_EVERY}th write
 * with {@code 503 SlowDown}. It runs until {@value #CHECKPOINTS} checkpoints completed, is
 * cancelled, then restored from its last checkpoint (read back through Flink's own S3 file system),
 * and the restored job checks every key. Nothing external is needed.
 *
 * <p>Flink's S3 file system ({@code flink-s3-fs-native}) is loaded as a plugin from the directory
 * in the system property {@value #PLUGINS_PROPERTY}, as a cluster loads it from {@code plugins/}.
 */
public final class ResilienceDemo {

    static final int CHECKPOINTS = 10;
    static final int SLOW_DOWN_EVERY = 4;
    static final String PLUGINS_PROPERTY = "rcs.demo.plugins";

    private ResilienceDemo() {}

    /** What a run showed. */
    public record Result(
            long checkpointsCompleted,
            long checkpointsFailed,
            long uploads,
            long slowDowns,
            long retries,
            long mismatches,
            long restoredKeys,
            String restoredFrom) {

        public boolean passed() {
            return checkpointsCompleted >= CHECKPOINTS
                    && checkpointsFailed == 0
                    && slowDowns > 0
                    && mismatches == 0
                    && restoredKeys == DemoJob.KEYS
                    && restoredFrom.startsWith("s3://");
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

    @SuppressWarnings(
            "try") // MiniCluster.close() may throw InterruptedException; the caller propagates it
    static Result run(Path work, PrintStream out) throws Exception {
        Path spill = Files.createDirectories(work.resolve("spill"));
        try (EmbeddedS3 s3 = new EmbeddedS3(SLOW_DOWN_EVERY)) {
            s3.createBucket("demo");
            initializeFlinkS3(s3.flinkConfig());
            try {
                return run(s3, spill, out);
            } finally {
                FileSystem.initialize(new Configuration(), null);
            }
        }
    }

    @SuppressWarnings("try")
    private static Result run(EmbeddedS3 s3, Path spill, PrintStream out) throws Exception {
        String checkpoints = "s3://demo/checkpoints";
        Configuration job = new Configuration();
        job.addAll(s3.flinkConfig());
        job.set(
                CheckpointingOptions.CHECKPOINT_STORAGE,
                ResilientCheckpointStorageFactory.class.getName());
        job.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints);
        job.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(200));
        job.set(
                CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION,
                ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        job.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
        job.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        // Any failed checkpoint fails the job: the demo shows that none fails, not that Flink
        // tolerates it.
        job.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 0);
        job.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        job.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        job.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(10));
        job.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(200));
        // The loopback server rarely leaves a request unanswered; a request it has not answered in
        // 10 s is cut and resent (the default, 2 min, suits real S3 and large parts).
        job.setString(ResilientCheckpointOptions.PREFIX + "s3.request-timeout", "10 s");

        Configuration clusterConf = new Configuration();
        clusterConf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.ofMebiBytes(128));
        MiniClusterConfiguration cfg =
                new MiniClusterConfiguration.Builder()
                        .setConfiguration(clusterConf)
                        .setNumTaskManagers(1)
                        .setNumSlotsPerTaskManager(4)
                        .build();
        StorageMetrics metrics = StorageRuntime.shared().metrics();

        out.printf(
                "Resilient Checkpoint Storage demo%n  checkpoints: %s on an S3 server at %s%n"
                        + "  the server answers every %dth write (PutObject, UploadPart) with 503 SlowDown;"
                        + " tolerable failed checkpoints: 0%n",
                checkpoints, s3.endpoint(), SLOW_DOWN_EVERY);
        try (MiniCluster cluster = new MiniCluster(cfg)) {
            cluster.start();

            DemoJob.resetCounters();
            JobID first = DemoJob.submit(cluster, job);
            long seen = 0;
            while (seen < CHECKPOINTS) {
                DemoJob.await(cluster, first, seen + 1, 0);
                seen =
                        DemoJob.checkpoints(cluster, first)
                                .getCounts()
                                .getNumberOfCompletedCheckpoints();
                out.printf(
                        "  checkpoints completed %2d, failed %d | uploads %4d, 503 SlowDown answered %3d,"
                                + " retries %3d, bytes %,d%n",
                        seen,
                        DemoJob.failedCheckpoints(cluster, first),
                        metrics.uploadsSucceeded(),
                        s3.slowDowns(),
                        metrics.retries(),
                        metrics.bytesUploaded());
            }
            long failed = DemoJob.failedCheckpoints(cluster, first);
            String latest = DemoJob.latestCheckpoint(cluster, first);
            DemoJob.cancel(cluster, first);
            long mismatchesBefore = DemoJob.MISMATCHES.get();
            out.printf(
                    "Cancelled after %d records; restoring from %s%n",
                    DemoJob.RECORDS.get(), latest);

            DemoJob.resetCounters();
            Configuration restore = new Configuration(job);
            restore.set(StateRecoveryOptions.SAVEPOINT_PATH, latest);
            JobID second = DemoJob.submit(cluster, restore);
            DemoJob.await(cluster, second, 2, 3L * DemoJob.KEYS);
            failed += DemoJob.failedCheckpoints(cluster, second);
            DemoJob.cancel(cluster, second);

            Result result =
                    new Result(
                            seen,
                            failed,
                            metrics.uploadsSucceeded(),
                            s3.slowDowns(),
                            metrics.retries(),
                            mismatchesBefore + DemoJob.MISMATCHES.get(),
                            DemoJob.KEYS_WITH_STATE.get(),
                            latest);
            out.printf(
                    "Restored job checked %d records: %d of %d keys came back with their state,"
                            + " %d mismatches%n",
                    DemoJob.RECORDS.get(),
                    result.restoredKeys(),
                    DemoJob.KEYS,
                    result.mismatches());
            out.printf(
                    "%s: %d checkpoints completed, %d failed, %d uploads went through %d 503 SlowDown"
                            + " answers (%d upload retries); restored state exact: %s%n",
                    result.passed() ? "PASS" : "FAIL",
                    result.checkpointsCompleted(),
                    result.checkpointsFailed(),
                    result.uploads(),
                    result.slowDowns(),
                    result.retries(),
                    result.mismatches() == 0 && result.restoredKeys() == DemoJob.KEYS);
            return result;
        }
    }

    /** Flink's own S3 file system, loaded from a plugin directory as a cluster loads it. */
    private static void initializeFlinkS3(Configuration s3) throws IOException {
        String dir = System.getProperty(PLUGINS_PROPERTY);
        if (dir == null || !Files.isDirectory(Paths.get(dir))) {
            throw new IllegalStateException(
                    "System property '"
                            + PLUGINS_PROPERTY
                            + "' must name a directory"
                            + " holding Flink's S3 file system plugin (the demo's build copies flink-s3-fs-native to"
                            + " demo/target/flink-plugins); got "
                            + dir);
        }
        FileSystem.initialize(
                s3,
                new DefaultPluginManager(
                        new DirectoryBasedPluginFinder(Paths.get(dir)).findPlugins(),
                        CoreOptions.getPluginParentFirstLoaderPatterns(s3)));
    }

    private static void deleteRecursively(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        Files.walkFileTree(
                root,
                new SimpleFileVisitor<>() {
                    @Override
                    public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
                            throws IOException {
                        Files.delete(file);
                        return FileVisitResult.CONTINUE;
                    }

                    @Override
                    public FileVisitResult postVisitDirectory(Path dir, IOException exc)
                            throws IOException {
                        Files.delete(dir);
                        return FileVisitResult.CONTINUE;
                    }
                });
    }
}
