package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Flink job checkpointing to {@code s3://} on a real S3 API server through the storage, with a
 * fault proxy answering 503 SlowDown or resetting a share of part uploads; then restored through
 * our storage and through Flink's own {@code filesystem} storage over flink-s3-fs-native.
 */
class S3CheckpointIT {

    static final String BUCKET = "checkpoints";

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @TempDir Path spill;

    private static ProxiedS3 s3;
    private static FaultProxy proxy;

    @BeforeAll
    static void start() throws Exception {
        s3 = new ProxiedS3(BUCKET);
        proxy = s3.proxy;
        FlinkS3.initialize(FlinkS3.config(proxy.endpoint()));
    }

    @AfterAll
    static void stop() throws Exception {
        if (s3 != null) {
            s3.close();
        }
    }

    private Configuration config(String storage, String dir) {
        Configuration conf = s3.jobConfig(storage, dir, spill);
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(20));
        return conf;
    }

    @Test
    void checkpointsThroughFaultsAndRestoresWithOursAndWithFlinkS3(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        int payload = 32 * 1024; // 400 keys x 32 KiB: each subtask's snapshot is a multipart upload
        Configuration conf = config(ResilientCheckpointStorageFactory.class.getName(), "job-a");
        long uploadsBefore = StorageRuntime.shared().metrics().uploadsSucceeded();
        proxy.faultOnlyIf = "partNumber=";
        proxy.slowDownRatio = 0.15;
        proxy.resetRatio = 0.1;
        try {
            CountingJob.resetCounters();
            JobID job = CountingJob.start(cluster, conf, payload);
            CountingJob.awaitChecked(cluster, job, 2L * CountingJob.KEYS);
            CountingJob.awaitCompletedCheckpoints(cluster, job, 4);
            // Faults are random: checkpoint on until some were injected.
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (proxy.slowDowns.get() + proxy.resets.get() == 0 && System.nanoTime() < end) {
                long completed =
                        CountingJob.stats(cluster, job)
                                .getCounts()
                                .getNumberOfCompletedCheckpoints();
                CountingJob.awaitCompletedCheckpoints(cluster, job, completed + 1);
            }
            assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
            CountingJob.cancel(cluster, job);
            // Read after the cancel: a checkpoint completing meanwhile would subsume an earlier
            // pick.
            String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
            assertThat(CountingJob.MISMATCHES.get()).isZero();
            assertThat(checkpoint).startsWith("s3://" + BUCKET + "/job-a/");
            assertThat(proxy.slowDowns.get() + proxy.resets.get())
                    .as("faults were injected")
                    .isPositive();
            assertThat(StorageRuntime.shared().metrics().uploadsSucceeded())
                    .isGreaterThan(uploadsBefore);

            proxy.slowDownRatio = 0;
            proxy.resetRatio = 0;
            CountingJob.verifyRestore(cluster, conf, checkpoint, payload);
            CountingJob.verifyRestore(cluster, config("filesystem", "job-b"), checkpoint, payload);
        } finally {
            proxy.slowDownRatio = 0;
            proxy.resetRatio = 0;
        }
    }
}
