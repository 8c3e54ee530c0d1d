package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
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
 * Issue 13 on S3: the fault proxy answers 503 SlowDown to half of the requests on {@code _metadata}
 * (the JobManager's PUTs and the deletes before a retry); the job keeps running and restores.
 */
class S3MetadataRetryIT {

    static final String BUCKET = "metadata";

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

    private static StorageMetrics metrics() {
        return StorageRuntime.shared().metrics();
    }

    @Test
    void jobKeepsRunningWhenHalfOfTheMetadataUploadsAreThrottled(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration conf = s3.jobConfig("job-m", spill);
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 30);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(5));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(50));
        // One request per attempt: the JobManager's retry loop, not the store's request retries,
        // rides it out.
        conf.set(S3StoreOptions.PART_ATTEMPTS, 1);
        long retriesBefore = metrics().metadataRetries();
        proxy.faultOnlyIf = "/_metadata";
        proxy.slowDownRatio = 0.5;
        try {
            CountingJob.resetCounters();
            JobID job = CountingJob.start(cluster, conf);
            CountingJob.awaitCompletedCheckpoints(cluster, job, 6);
            // Faults are random, and not every request on a _metadata is the JobManager's PUT
            // (Flink's discard of a subsumed checkpoint reads its _metadata's status and deletes
            // it): checkpoint on until the JobManager has retried a write.
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (metrics().metadataRetries() <= retriesBefore && System.nanoTime() < end) {
                long completed =
                        CountingJob.stats(cluster, job)
                                .getCounts()
                                .getNumberOfCompletedCheckpoints();
                CountingJob.awaitCompletedCheckpoints(cluster, job, completed + 1);
            }
            assertThat(metrics().metadataRetries())
                    .as(
                            "_metadata writes retried by the JobManager (503 SlowDown answered on"
                                    + " _metadata requests: %s)",
                            proxy.slowDowns.get())
                    .isGreaterThan(retriesBefore);
            assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
            assertThat(cluster.getJobStatus(job).get()).isEqualTo(JobStatus.RUNNING);
            CountingJob.cancel(cluster, job);
            // Read after the cancel: checkpoints completing meanwhile would subsume an earlier
            // pick.
            String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
            assertThat(CountingJob.MISMATCHES.get()).isZero();

            proxy.slowDownRatio = 0;
            CountingJob.verifyRestore(cluster, conf, checkpoint, CountingJob.PAYLOAD_BYTES);
        } finally {
            proxy.slowDownRatio = 0;
            proxy.faultOnlyIf = null;
        }
    }

    /**
     * A {@code _metadata} PUT that S3 reads and never answers (a dead keep-alive connection, a
     * stalled load balancer), at the default {@code s3.request-timeout} (2 min) and the default
     * JobManager bound (5 s): the write is cut and resent within the bound, so the checkpoint
     * completes. Found by the demo, whose loopback server once left a PUT unanswered: the one
     * attempt used the whole bound and the job failed with "Failure to finalize checkpoint".
     */
    @Test
    void aMetadataWriteNeverAnsweredIsResentWithinTheJobManagerBound(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration conf = s3.jobConfig("job-hung", spill);
        proxy.inject(
                FaultProxy.Fault.of(FaultProxy.Shape.NO_ANSWER),
                line -> line.startsWith("PUT ") && line.contains("/_metadata"),
                1);
        long injectedBefore = proxy.faultsInjected.get();
        try {
            CountingJob.resetCounters();
            JobID job = CountingJob.start(cluster, conf);
            CountingJob.awaitCompletedCheckpoints(cluster, job, 3);
            assertThat(proxy.faultsInjected.get())
                    .as("a _metadata PUT was left unanswered")
                    .isGreaterThan(injectedBefore);
            assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
            assertThat(cluster.getJobStatus(job).get()).isEqualTo(JobStatus.RUNNING);
            CountingJob.cancel(cluster, job);
            String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
            assertThat(CountingJob.MISMATCHES.get()).isZero();
            CountingJob.verifyRestore(cluster, conf, checkpoint, CountingJob.PAYLOAD_BYTES);
        } finally {
            proxy.clearFaults();
        }
    }
}
