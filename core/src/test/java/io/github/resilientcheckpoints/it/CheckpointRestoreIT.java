package io.github.resilientcheckpoints.it;

import static io.github.resilientcheckpoints.testing.CountingJob.KEYS;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import io.github.resilientcheckpoints.testing.SpillFiles;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Real jobs on a MiniCluster checkpointing through the storage, then restored. */
class CheckpointRestoreIT {

    static final String OURS = ResilientCheckpointStorageFactory.class.getName();
    static final String VANILLA = "filesystem";

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @TempDir Path checkpoints;
    @TempDir Path spill;

    @BeforeEach
    void reset() {
        CountingJob.resetCounters();
    }

    private Configuration config(String storage, String backend) {
        Configuration conf = CountingJob.config(storage, backend, checkpoints.toUri().toString());
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        return conf;
    }

    private static long uploads() {
        return StorageRuntime.shared().metrics().uploadsSucceeded();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"hashmap", "rocksdb"})
    void checkpointCancelRestoreGivesExactState(
            String backend, @InjectMiniCluster MiniCluster cluster) throws Exception {
        long uploadsBefore = uploads();
        String checkpoint = runAndCancel(cluster, config(OURS, backend), null);
        assertThat(uploads()).as("state went through our upload path").isGreaterThan(uploadsBefore);
        assertPlainFlinkLayout(checkpoint);

        restoreAndVerify(cluster, config(OURS, backend), checkpoint);
        assertThat(SpillFiles.awaitNone(spill.resolve(SpillSpace.SUBDIR)))
                .as("no spill file outlives its stream")
                .isEmpty();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"hashmap", "rocksdb"})
    void ourCheckpointRestoresWithVanillaStorage(
            String backend, @InjectMiniCluster MiniCluster cluster) throws Exception {
        String checkpoint = runAndCancel(cluster, config(OURS, backend), null);
        restoreAndVerify(cluster, config(VANILLA, backend), checkpoint);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"hashmap", "rocksdb"})
    void vanillaCheckpointRestoresWithOurStorage(
            String backend, @InjectMiniCluster MiniCluster cluster) throws Exception {
        String checkpoint = runAndCancel(cluster, config(VANILLA, backend), null);
        long uploadsBefore = uploads();
        restoreAndVerify(cluster, config(OURS, backend), checkpoint);
        assertThat(uploads()).isGreaterThan(uploadsBefore);
    }

    @Test
    void injectedTransientFailuresNeverFailACheckpoint(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        Configuration conf = config(OURS, "rocksdb");
        conf.set(ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO, 0.3);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(5));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(50));
        StorageRuntime runtime = StorageRuntime.shared();
        long retriesBefore = runtime.metrics().retries();

        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 6);
        // Faults are random: keep checkpointing until some were injected (a handful of uploads can
        // miss).
        awaitCheckpointsUntil(cluster, job, () -> runtime.metrics().retries() > retriesBefore);
        assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
        assertThat(cluster.getJobStatus(job).get()).isEqualTo(JobStatus.RUNNING);
        assertThat(runtime.metrics().retries() - retriesBefore)
                .as("faults were injected and retried")
                .isPositive();
        CountingJob.cancel(cluster, job);
        // Read after the cancel: a checkpoint completing meanwhile would subsume an earlier pick.
        String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
        assertThat(CountingJob.MISMATCHES.get()).isZero();

        restoreAndVerify(cluster, config(OURS, "rocksdb"), checkpoint);
    }

    @Test
    void injectedThrottlingSlowsUploadsDownWithoutFailingACheckpoint(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration conf = config(OURS, "rocksdb");
        conf.set(ResilientCheckpointOptions.FAULT_INJECTION_THROTTLED_RATIO, 0.3);
        conf.set(ResilientCheckpointOptions.THROTTLE_MAX_RATE, MemorySize.parse("256 mb"));
        conf.set(ResilientCheckpointOptions.THROTTLE_MIN_RATE, MemorySize.parse("4 mb"));
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(5));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(50));
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
        var storage =
                new ResilientCheckpointStorageFactory()
                        .createFromConfig(conf, getClass().getClassLoader());
        var throttle = storage.throttle();
        long signalsBefore = throttle.throttleSignals();

        JobID job = CountingJob.start(cluster, conf);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        // Faults are random: run until 6 checkpoints completed and some throttling was injected.
        while ((CountingJob.stats(cluster, job).getCounts().getNumberOfCompletedCheckpoints() < 6
                        || throttle.throttleSignals() == signalsBefore)
                && System.nanoTime() < end) {
            Thread.sleep(5);
        }
        CountingJob.awaitCompletedCheckpoints(cluster, job, 6);
        assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
        assertThat(throttle.throttleSignals() - signalsBefore)
                .as("throttle signals seen")
                .isPositive();
        // Sampling currentRate() would race the recovery (every success climbs back); the lowest
        // rate the throttle was cut to is what a signal guarantees.
        assertThat(throttle.lowestRate()).as("the rate was cut").isLessThan(256L << 20);
        CountingJob.cancel(cluster, job);
        assertThat(CountingJob.MISMATCHES.get()).isZero();
    }

    /** Waits for further checkpoints until {@code condition} holds (at most 60 s). */
    private static void awaitCheckpointsUntil(
            MiniCluster cluster, JobID job, BooleanSupplier condition) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean() && System.nanoTime() < end) {
            long completed =
                    CountingJob.stats(cluster, job).getCounts().getNumberOfCompletedCheckpoints();
            CountingJob.awaitCompletedCheckpoints(cluster, job, completed + 1);
        }
    }

    private String runAndCancel(MiniCluster cluster, Configuration conf, String restoreFrom)
            throws Exception {
        JobID job =
                CountingJob.start(
                        cluster,
                        restoreFrom == null ? conf : CountingJob.restoringFrom(conf, restoreFrom));
        CountingJob.awaitCompletedCheckpoints(cluster, job, 3);
        CountingJob.awaitChecked(cluster, job, 2L * KEYS);
        CountingJob.cancel(cluster, job);
        // Read after the cancel: a checkpoint completing meanwhile would subsume an earlier pick.
        String path = CountingJob.latestCheckpointPath(cluster, job);
        assertThat(CountingJob.MISMATCHES.get()).isZero();
        return path;
    }

    private void restoreAndVerify(MiniCluster cluster, Configuration conf, String checkpoint)
            throws Exception {
        CountingJob.verifyRestore(cluster, conf, checkpoint, CountingJob.PAYLOAD_BYTES);
    }

    /**
     * {@code <dir>/<job-id>/chk-N/_metadata}, {@code shared/}, {@code taskowned/}; no type of ours
     * inside.
     */
    private void assertPlainFlinkLayout(String checkpoint) throws Exception {
        Path chk = Paths.get(URI.create(checkpoint));
        assertThat(chk.getFileName().toString()).startsWith("chk-");
        Path jobDir = chk.getParent();
        assertThat(jobDir.getParent()).isEqualTo(checkpoints);
        assertThat(jobDir.resolve("shared")).isDirectory();
        assertThat(jobDir.resolve("taskowned")).isDirectory();
        byte[] metadata = Files.readAllBytes(chk.resolve("_metadata"));
        assertThat(new String(metadata, StandardCharsets.ISO_8859_1))
                .doesNotContain("resilientcheckpoints");
    }
}
