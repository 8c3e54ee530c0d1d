package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
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
 * A session cluster: one TaskManager runs two jobs that checkpoint to the same bucket with
 * different {@code s3.*} credentials. Each job's state must be written with its own identity: the
 * job with a wrong secret must not complete a checkpoint through the client of the other job.
 */
class SessionClusterTenantsIT {

    static final String BUCKET = "tenants";

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @TempDir Path spill;

    private static S3Server server;

    @BeforeAll
    static void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        // Flink's own s3:// file system (the JobManager's _metadata) has the right identity.
        FlinkS3.initialize(FlinkS3.config(server.endpoint()));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private Configuration config(String secret) {
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(),
                        "hashmap",
                        "s3://" + BUCKET + "/checkpoints");
        conf.addAll(FlinkS3.config(server.endpoint()));
        conf.setString("s3.secret-key", secret);
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 2);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(20));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(50));
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofSeconds(20));
        // The submission probe would refuse the job with the wrong secret before any task starts
        // (S3SubmissionProbeIT); here the TaskManagers' stores are under test, so both jobs run.
        conf.set(ResilientCheckpointOptions.PROBE_AT_SUBMISSION, false);
        conf.set(
                CoreOptions.DEFAULT_PARALLELISM, 2); // both jobs fit into the TaskManager's 4 slots
        return conf;
    }

    private static void awaitRunning(MiniCluster cluster, JobID job) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (cluster.getJobStatus(job).get(30, TimeUnit.SECONDS) != JobStatus.RUNNING) {
            assertThat(System.nanoTime()).as("job %s running within 60 s", job).isLessThan(end);
            Thread.sleep(20);
        }
    }

    @Test
    void aJobWithWrongCredentialsDoesNotWriteWithAnotherJobsClient(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        int payload = 8 * 1024; // well above the inline threshold: state goes through the store
        CountingJob.resetCounters();
        JobID right = CountingJob.start(cluster, config(S3Server.SECRET_KEY), payload);
        CountingJob.awaitCompletedCheckpoints(cluster, right, 2);

        // Same TaskManager, same bucket and root, one setting different: the secret.
        JobID wrong = CountingJob.start(cluster, config("not-the-secret"), payload);
        awaitRunning(cluster, wrong);
        // With the first job's client it would complete checkpoints every 200 ms; with its own
        // identity every upload is refused and, with no failure tolerated, the job fails.
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < end
                && !cluster.getJobStatus(wrong).get(30, TimeUnit.SECONDS).isTerminalState()) {
            assertThat(
                            CountingJob.stats(cluster, wrong)
                                    .getCounts()
                                    .getNumberOfCompletedCheckpoints())
                    .as(
                            "a checkpoint of the job with the wrong secret completed: it wrote with another identity")
                    .isZero();
            Thread.sleep(50);
        }
        assertThat(CountingJob.stats(cluster, wrong).getCounts().getNumberOfCompletedCheckpoints())
                .isZero();
        assertThat(cluster.getJobStatus(wrong).get(30, TimeUnit.SECONDS))
                .as("the job with the wrong secret failed (no checkpoint failure is tolerated)")
                .isEqualTo(JobStatus.FAILED);

        long before =
                CountingJob.stats(cluster, right).getCounts().getNumberOfCompletedCheckpoints();
        CountingJob.awaitCompletedCheckpoints(cluster, right, before + 2);
        assertThat(CountingJob.failureMessages(cluster, right)).isEmpty();

        CountingJob.cancel(cluster, right);
    }
}
