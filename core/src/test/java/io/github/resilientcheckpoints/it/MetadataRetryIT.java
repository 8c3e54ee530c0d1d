package io.github.resilientcheckpoints.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.metrics.StorageMetricsMBeanRegistrar;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.FaultyFileSystem;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.ExceptionUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JobManager's side under store faults (issue 13): the job checkpoints to {@code faulty://}, a
 * test file system over the local disk that fails every other {@code _metadata} write (at create,
 * mid-write or at close) or refuses it as "access denied"; or fails two of three creations of a
 * checkpoint directory and every other delete of one, or refuses the creation as "access denied".
 */
class MetadataRetryIT {

    static final String OURS = ResilientCheckpointStorageFactory.class.getName();

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    @TempDir Path checkpoints;
    @TempDir Path savepoints;
    @TempDir Path spill;

    @BeforeEach
    void reset() {
        CountingJob.resetCounters();
        FaultyFileSystem.reset();
    }

    @AfterEach
    void faultsOff(@InjectMiniCluster MiniCluster cluster) throws Exception {
        FaultyFileSystem.reset();
        // Flink's extension leaves a test's jobs running: they end before the next test.
        MiniClusters.endAllJobs(cluster);
    }

    private Configuration config() {
        Configuration conf = FaultyFileSystem.jobConfig(OURS, checkpoints, spill);
        return conf;
    }

    private static StorageMetrics metrics() {
        return StorageRuntime.shared().metrics();
    }

    @Test
    void jobKeepsRunningWhenHalfOfTheMetadataWritesFail(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        Configuration conf = config();
        long faultsBefore = FaultyFileSystem.FAULTS.get();
        long retriesBefore = metrics().metadataRetries();
        FaultyFileSystem.mode = FaultyFileSystem.Mode.EVERY_OTHER;

        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 6);
        awaitCheckpointsUntil(
                cluster, job, () -> FaultyFileSystem.FAULTS.get() - faultsBefore >= 3);

        assertThat(FaultyFileSystem.FAULTS.get() - faultsBefore)
                .as("faults were injected on _metadata")
                .isGreaterThanOrEqualTo(3);
        assertThat(CountingJob.failureMessages(cluster, job)).as("failed checkpoints").isEmpty();
        assertThat(cluster.getJobStatus(job).get()).isEqualTo(JobStatus.RUNNING);
        assertThat(metrics().metadataRetries() - retriesBefore)
                .as("metadata retries counted")
                .isPositive();
        CountingJob.cancel(cluster, job);
        // Read after the cancel: checkpoints completing meanwhile would subsume an earlier pick.
        String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
        assertThat(checkpoint).startsWith(FaultyFileSystem.SCHEME + ":");
        assertThat(CountingJob.MISMATCHES.get()).isZero();

        assertOneCompleteMetadataFile(checkpoint);
        CountingJob.verifyRestore(cluster, conf, checkpoint, CountingJob.PAYLOAD_BYTES);
    }

    @Test
    void permanentErrorOnMetadataFailsTheCheckpointAtOnceNamingThePath(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration conf = config();
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofSeconds(60));
        // The periodic checkpoints fail too; the job must survive them for this test.
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 1000);
        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 1);
        long retriesBefore = metrics().metadataRetries();
        long failuresBefore = metrics().metadataWriteFailures();
        String text =
                failingCheckpoint(
                        cluster,
                        job,
                        () -> FaultyFileSystem.mode = FaultyFileSystem.Mode.ACCESS_DENIED);
        assertThat(text)
                .contains("Could not write checkpoint metadata to")
                .containsPattern("chk-\\d+/_metadata")
                .contains("access denied")
                .contains("write access")
                .contains("JobManager");
        assertThat(metrics().metadataWriteFailures()).isGreaterThan(failuresBefore);
        assertThat(metrics().metadataRetries())
                .as("a permanent error is not retried")
                .isEqualTo(retriesBefore);
        assertThat(cluster.getJobStatus(job).get()).isEqualTo(JobStatus.RUNNING);
        CountingJob.cancel(cluster, job);
    }

    @Test
    void stopWithSavepointUnderMetadataFaultsSucceedsAndRestores(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration conf = config();
        long faultsBefore = FaultyFileSystem.FAULTS.get();
        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 1);
        CountingJob.awaitChecked(cluster, job, 2L * CountingJob.KEYS);
        FaultyFileSystem.mode = FaultyFileSystem.Mode.EVERY_OTHER;
        // Let some checkpoints meet the faults first, so the savepoint's own write meets them too.
        awaitCheckpointsUntil(
                cluster, job, () -> FaultyFileSystem.FAULTS.get() - faultsBefore >= 2);

        String savepoint =
                cluster.stopWithSavepoint(
                                job,
                                FaultyFileSystem.uri(savepoints),
                                false,
                                SavepointFormatType.CANONICAL)
                        .get(50, TimeUnit.SECONDS);
        cluster.requestJobResult(job).get(30, TimeUnit.SECONDS);
        assertThat(FaultyFileSystem.FAULTS.get() - faultsBefore).isGreaterThanOrEqualTo(2);
        assertThat(savepoint).startsWith(FaultyFileSystem.SCHEME + ":");
        assertThat(CountingJob.MISMATCHES.get()).isZero();
        assertOneCompleteMetadataFile(savepoint);

        CountingJob.verifyRestore(cluster, conf, savepoint, CountingJob.PAYLOAD_BYTES);
    }

    /** Exactly one file named _metadata, nothing left over from failed attempts next to it. */
    private static void assertOneCompleteMetadataFile(String pointer) throws Exception {
        String path = URI.create(pointer).getPath();
        Path dir =
                Paths.get(
                        path.endsWith("_metadata") ? path.substring(0, path.length() - 10) : path);
        Path metadata = dir.resolve("_metadata");
        assertThat(metadata).exists();
        assertThat(Files.size(metadata)).isPositive();
        try (var files = Files.list(dir)) {
            assertThat(
                            files.map(p -> p.getFileName().toString())
                                    .filter(n -> n.contains("_metadata")))
                    .containsExactly("_metadata");
        }
    }

    private static void awaitCheckpointsUntil(
            MiniCluster cluster, JobID job, BooleanSupplier condition) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
        while (!condition.getAsBoolean() && System.nanoTime() < end) {
            long completed =
                    CountingJob.stats(cluster, job).getCounts().getNumberOfCompletedCheckpoints();
            CountingJob.awaitCompletedCheckpoints(cluster, job, completed + 1);
        }
    }

    @Test
    void checkpointsCompleteWhenCreatingTheirDirectoriesFailsTransiently(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration conf = config();
        long faultsBefore = FaultyFileSystem.DIRECTORY_FAULTS.get();
        long retriesBefore = attribute("directoryCreateRetries");
        FaultyFileSystem.directoryMode = FaultyFileSystem.DirectoryMode.FLAKY;

        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 6);

        assertThat(FaultyFileSystem.DIRECTORY_FAULTS.get() - faultsBefore)
                .as("faults were injected")
                .isGreaterThanOrEqualTo(6);
        assertThat(CountingJob.failureMessages(cluster, job)).as("failed checkpoints").isEmpty();
        assertThat(cluster.getJobStatus(job).get()).isEqualTo(JobStatus.RUNNING);
        assertThat(attribute("directoryCreateRetries") - retriesBefore)
                .as("directory retries counted")
                .isPositive();
        CountingJob.cancel(cluster, job);
        FaultyFileSystem.directoryMode = FaultyFileSystem.DirectoryMode.OFF;
        String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
        assertThat(CountingJob.MISMATCHES.get()).isZero();

        CountingJob.verifyRestore(cluster, conf, checkpoint, CountingJob.PAYLOAD_BYTES);
    }

    @Test
    void permanentErrorCreatingTheDirectoryFailsTheCheckpointAtOnceNamingThePath(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration conf = config();
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofSeconds(60));
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 1000);
        JobID job = CountingJob.start(cluster, conf);
        try {
            accessDeniedFailsTheCheckpointQuickly(cluster, job);
        } finally {
            FaultyFileSystem.directoryMode = FaultyFileSystem.DirectoryMode.OFF;
            cancelIfRunning(cluster, job);
        }
    }

    private static void accessDeniedFailsTheCheckpointQuickly(MiniCluster cluster, JobID job)
            throws Exception {
        CountingJob.awaitCompletedCheckpoints(cluster, job, 1);
        long failuresBefore = attribute("directoryCreateFailures");
        String text =
                failingCheckpoint(
                        cluster,
                        job,
                        () ->
                                FaultyFileSystem.directoryMode =
                                        FaultyFileSystem.DirectoryMode.ACCESS_DENIED);
        assertThat(text)
                .contains("Could not create checkpoint directory")
                .containsPattern("chk-\\d+")
                .contains("access denied")
                .contains("JobManager");
        assertThat(attribute("directoryCreateFailures")).isGreaterThan(failuresBefore);
        assertThat(cluster.getJobStatus(job).get()).isEqualTo(JobStatus.RUNNING);
    }

    /**
     * Triggers a checkpoint with the faults {@code on} switches on (all off again afterwards) and
     * returns its failure as text, having checked that it failed well before its deadline (54 s).
     */
    private static String failingCheckpoint(MiniCluster cluster, JobID job, Runnable on)
            throws Exception {
        on.run();
        long start = System.nanoTime();
        Throwable failure = null;
        try {
            cluster.triggerCheckpoint(job).get(50, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            failure = e;
        } finally {
            FaultyFileSystem.reset();
        }
        long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertThat(failure).as("the checkpoint failed").isNotNull();
        assertThat(tookMillis)
                .as("failed without waiting for the deadline (54 s)")
                .isLessThan(15_000);
        return ExceptionUtils.stringifyException(failure);
    }

    private static void cancelIfRunning(MiniCluster cluster, JobID job) throws Exception {
        if (!cluster.getJobStatus(job).get(30, TimeUnit.SECONDS).isGloballyTerminalState()) {
            CountingJob.cancel(cluster, job);
        }
    }

    /**
     * Subsumed checkpoints are deleted although every other delete of their directory fails; the
     * counters of those deletes are in the JMX bean with the janitor off.
     */
    @Test
    void subsumedCheckpointsAreDeletedDespiteFaultsAndCountedInJmx(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration conf = config();
        conf.set(ResilientCheckpointOptions.JANITOR_ENABLED, false);
        long deletesBefore = attribute("locationDeletes");
        long faultsBefore = FaultyFileSystem.DIRECTORY_FAULTS.get();
        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 1);
        FaultyFileSystem.directoryMode = FaultyFileSystem.DirectoryMode.FLAKY;
        long completed =
                CountingJob.stats(cluster, job).getCounts().getNumberOfCompletedCheckpoints();
        CountingJob.awaitCompletedCheckpoints(cluster, job, completed + 10);
        CountingJob.cancel(cluster, job);
        FaultyFileSystem.directoryMode = FaultyFileSystem.DirectoryMode.OFF;

        Path jobDir = checkpoints.resolve(job.toHexString());
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (checkpointDirectories(jobDir) > 3 && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        assertThat(FaultyFileSystem.DIRECTORY_FAULTS.get() - faultsBefore)
                .as("faults were injected")
                .isPositive();
        assertThat(checkpointDirectories(jobDir))
                .as("chk-N left besides the 3 retained")
                .isLessThanOrEqualTo(3);
        assertThat(attribute("locationDeletes") - deletesBefore)
                .as("deletes counted in JMX")
                .isGreaterThanOrEqualTo(8);
        assertThat(attribute("locationDeleteRetries")).isPositive();
        assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
    }

    private static long checkpointDirectories(Path jobDir) throws Exception {
        try (var files = Files.list(jobDir)) {
            return files.filter(p -> p.getFileName().toString().startsWith("chk-")).count();
        }
    }

    /** An attribute of the JMX bean of this JVM's runtime, read as any JMX client would. */
    private static long attribute(String name) throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        ObjectName bean = StorageMetricsMBeanRegistrar.objectName("shared");
        if (!server.isRegistered(bean)) {
            return 0;
        }
        return (Long) server.getAttribute(bean, name);
    }
}
