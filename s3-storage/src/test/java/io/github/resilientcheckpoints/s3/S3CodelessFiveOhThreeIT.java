package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.s3.FaultProxy.Fault;
import io.github.resilientcheckpoints.s3.FaultProxy.Shape;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.CheckpointStatsCounts;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 22 end to end: a job checkpoints to S3 while 70 % of every write (PutObject, UploadPart and
 * the JobManager's {@code _metadata}) is answered {@code 503} without an S3 error code, with an
 * empty body or with a load balancer's HTML page. The job keeps running (a checkpoint may fail now
 * and then at this rate; the job must not), checkpoints complete, and the retained checkpoint
 * restores every key exactly. The JobManager's {@code _metadata} retries keep their default bound
 * ({@code jobmanager.max-blocking}, 5 s).
 */
class S3CodelessFiveOhThreeIT {

    static final String BUCKET = "codeless";

    /** 400 keys x 32 KiB: each subtask's snapshot is a pipelined multipart upload of two parts. */
    static final int PAYLOAD = 32 * 1024;

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

    private Configuration config(String dir) {
        Configuration conf = s3.jobConfig(dir, spill);
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        // 70 % of attempts fail: each request gets more resends than the default four.
        conf.set(S3StoreOptions.PART_ATTEMPTS, 12);
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 30);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(20));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(200));
        // jobmanager.max-blocking stays at its default (5 s): Flink writes _metadata under its
        // checkpoint coordinator's lock. A checkpoint that fails now and then is honest at 70 %
        // faults; the job failing is not.
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 1000);
        return conf;
    }

    enum Body {
        EMPTY(Shape.ERROR_EMPTY),
        HTML(Shape.ERROR_HTML);

        final Shape shape;

        Body(Shape shape) {
            this.shape = shape;
        }
    }

    @ParameterizedTest
    @EnumSource(Body.class)
    void seventyPercentOfWritesAnswered503WithoutCodeNeitherFailTheJobNorTheRestore(
            Body body, @InjectMiniCluster MiniCluster cluster) throws Exception {
        String dir = "job-" + body.name().toLowerCase(java.util.Locale.ROOT);
        Configuration conf = config(dir);
        AtomicLong metadataCandidates = new AtomicLong();
        // Every write into this job's directory: PutObject, UploadPart (PUT ...?partNumber=) and
        // the _metadata PutObject (If-None-Match: *).
        proxy.injectRandomly(
                new Fault(body.shape, 503, null),
                line -> {
                    boolean write = line.startsWith("PUT ") && line.contains("/" + dir + "/");
                    if (write && line.contains("/_metadata")) {
                        metadataCandidates.incrementAndGet();
                    }
                    return write;
                },
                0.7);
        long faultsBefore = proxy.faultsInjected.get();
        try {
            CountingJob.resetCounters();
            JobID job = CountingJob.start(cluster, conf, PAYLOAD);
            CountingJob.awaitCompletedCheckpoints(cluster, job, 3);
            assertThat(cluster.getJobStatus(job).get()).isEqualTo(JobStatus.RUNNING);
            CountingJob.cancel(cluster, job);
            CheckpointStatsCounts counts = CountingJob.stats(cluster, job).getCounts();
            System.out.printf(
                    "S3CodelessFiveOhThreeIT[%s]: %d checkpoints completed, %d failed; %d 503s"
                            + " answered; %d _metadata writes seen by the proxy%n",
                    body,
                    counts.getNumberOfCompletedCheckpoints(),
                    counts.getNumberOfFailedCheckpoints(),
                    proxy.faultsInjected.get() - faultsBefore,
                    metadataCandidates.get());
            assertThat(counts.getNumberOfCompletedCheckpoints()).isGreaterThanOrEqualTo(3);
            assertThat(proxy.faultsInjected.get() - faultsBefore).as("503s answered").isPositive();
            assertThat(CountingJob.MISMATCHES.get()).isZero();
            // Read after the cancel: checkpoints completing meanwhile would subsume an earlier
            // pick.
            String checkpoint = CountingJob.latestCheckpointPath(cluster, job);

            // The restore writes through the same faults: its own checkpoint must complete too.
            CountingJob.verifyRestore(cluster, conf, checkpoint, PAYLOAD);
        } finally {
            proxy.clearFaults();
        }
    }
}
