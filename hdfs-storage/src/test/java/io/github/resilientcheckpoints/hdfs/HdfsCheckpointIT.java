package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.hadoop.fs.SafeModeAction;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Flink job checkpointing to a real HDFS through the storage: losing a DataNode on the way;
 * with {@code _metadata} written through the HDFS store while half of its writes fail (the fault
 * drill in front of it); and with a checkpoint triggered while the NameNode is in safe mode, which
 * refuses the JobManager's {@code mkdirs} of {@code chk-N} until it leaves (issue 13).
 */
class HdfsCheckpointIT {

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @TempDir static java.nio.file.Path base;
    @TempDir java.nio.file.Path spill;

    private static MiniDfs dfs;

    @BeforeAll
    static void startHdfs() throws Exception {
        dfs = new MiniDfs(base, 3);
    }

    @AfterAll
    static void stopHdfs() {
        if (dfs != null) {
            dfs.close();
        }
    }

    @Test
    void hdfsSchemeGetsTheHdfsAdapter() throws Exception {
        try (CheckpointStore store =
                CheckpointStores.forRoot(URI.create(dfs.uri() + "/x"), new Configuration())) {
            assertThat(store).isInstanceOf(HdfsStore.class);
        }
    }

    @Test
    void checkpointsSurviveADataNodeLossAndRestoreExactly(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(),
                        "rocksdb",
                        dfs.uri() + "/flink/checkpoints");
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        long uploadsBefore = StorageRuntime.shared().metrics().uploadsSucceeded();

        CountingJob.resetCounters();
        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 2);
        dfs.cluster.stopDataNode(0);
        long completed =
                CountingJob.stats(cluster, job).getCounts().getNumberOfCompletedCheckpoints();
        CountingJob.awaitCompletedCheckpoints(cluster, job, completed + 4);
        assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
        CountingJob.cancel(cluster, job);
        // Read after the cancel: a checkpoint completing meanwhile would subsume an earlier pick.
        String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
        assertThat(checkpoint).startsWith(dfs.uri().toString());
        assertThat(CountingJob.MISMATCHES.get()).isZero();
        assertThat(StorageRuntime.shared().metrics().uploadsSucceeded())
                .isGreaterThan(uploadsBefore);

        CountingJob.verifyRestore(cluster, conf, checkpoint, CountingJob.PAYLOAD_BYTES);
    }

    private Configuration config(String dir) {
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(),
                        "hashmap",
                        dfs.uri() + dir);
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 60);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(20));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(300));
        return conf;
    }

    private static StorageMetrics metrics() {
        return StorageRuntime.shared().metrics();
    }

    @Test
    void halfOfTheMetadataWritesFailingNeitherFailsACheckpointNorTheRestore(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        CountingJob.resetCounters();
        Configuration conf = config("/flink/drill");
        conf.set(ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO, 0.5);
        long retriesBefore = metrics().metadataRetries();
        long writesBefore = metrics().metadataWrites();

        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 4);
        // Each _metadata write fails with probability 1/2: wait until some did.
        awaitCheckpointsUntil(cluster, job, () -> metrics().metadataRetries() - retriesBefore >= 2);

        assertThat(metrics().metadataRetries() - retriesBefore)
                .as("_metadata writes retried")
                .isGreaterThanOrEqualTo(2);
        assertThat(metrics().metadataWrites() - writesBefore)
                .as("_metadata written through the store")
                .isPositive();
        assertThat(CountingJob.failureMessages(cluster, job)).as("failed checkpoints").isEmpty();
        assertThat(cluster.getJobStatus(job).get()).isEqualTo(JobStatus.RUNNING);

        // A stop-with-savepoint under the same faults.
        String savepoint =
                cluster.stopWithSavepoint(
                                job,
                                dfs.uri() + "/flink/drill-savepoints",
                                false,
                                SavepointFormatType.CANONICAL)
                        .get(60, TimeUnit.SECONDS);
        cluster.requestJobResult(job).get(30, TimeUnit.SECONDS);
        assertThat(savepoint).startsWith(dfs.uri().toString());
        assertThat(CountingJob.MISMATCHES.get()).isZero();
        assertThat(
                        dfs.fs()
                                .getFileStatus(
                                        new org.apache.hadoop.fs.Path(savepoint, "_metadata"))
                                .getLen())
                .isPositive();

        CountingJob.verifyRestore(
                cluster, config("/flink/drill"), savepoint, CountingJob.PAYLOAD_BYTES);
    }

    /**
     * A checkpoint triggered while the NameNode is in safe mode: its first NameNode call, the
     * {@code mkdirs} of {@code chk-N}, is refused until safe mode ends, and the checkpoint
     * completes then.
     */
    @Test
    void aCheckpointTriggeredWhileTheNameNodeIsInSafeModeCompletesWhenItLeaves(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        CountingJob.resetCounters();
        Configuration conf = config("/flink/safemode");
        // Checkpoints only when triggered here, so that one starts inside safe mode.
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofHours(1));
        long directoryRetriesBefore = metrics().directoryCreateRetries();

        JobID job = CountingJob.start(cluster, conf);
        try {
            CountingJob.awaitChecked(cluster, job, 2L * CountingJob.KEYS);
            CountingJob.triggerCheckpoint(cluster, job);
            CompletableFuture<String> inSafeMode;
            dfs.fs().setSafeMode(SafeModeAction.ENTER);
            try {
                inSafeMode = cluster.triggerCheckpoint(job);
                Thread.sleep(3000);
                assertThat(inSafeMode).as("the checkpoint waits for the NameNode").isNotDone();
            } finally {
                dfs.fs().setSafeMode(SafeModeAction.LEAVE);
            }
            String checkpoint = inSafeMode.get(60, TimeUnit.SECONDS);

            assertThat(metrics().directoryCreateRetries() - directoryRetriesBefore)
                    .as("the mkdirs of chk-N refused in safe mode was retried")
                    .isPositive();
            assertThat(CountingJob.failureMessages(cluster, job))
                    .as("failed checkpoints")
                    .isEmpty();
            assertThat(cluster.getJobStatus(job).get()).isEqualTo(JobStatus.RUNNING);
            CountingJob.cancel(cluster, job);
            assertThat(CountingJob.MISMATCHES.get()).isZero();

            CountingJob.verifyRestore(
                    cluster, config("/flink/safemode"), checkpoint, CountingJob.PAYLOAD_BYTES);
        } finally {
            if (!cluster.getJobStatus(job).get(30, TimeUnit.SECONDS).isGloballyTerminalState()) {
                CountingJob.cancel(cluster, job);
            }
        }
    }

    private static void awaitCheckpointsUntil(
            MiniCluster cluster, JobID job, BooleanSupplier condition) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean() && System.nanoTime() < end) {
            long completed =
                    CountingJob.stats(cluster, job).getCounts().getNumberOfCompletedCheckpoints();
            CountingJob.awaitCompletedCheckpoints(cluster, job, completed + 1);
        }
    }
}
