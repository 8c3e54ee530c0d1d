package io.github.resilientcheckpoints.dist;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.demo.EmbeddedS3;
import io.github.resilientcheckpoints.it.SubmissionProbeIT;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.ExceptionUtils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint directory in a bucket that does not exist: Flink's own S3 file system accepts it
 * (its directories are only key prefixes), so without the probe the job runs and fails every
 * checkpoint. With the probe the JobManager refuses the job at submission with the S3 store's
 * message.
 */
class S3SubmissionProbeIT {

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    private static EmbeddedS3 s3;

    @TempDir Path spill;

    @BeforeAll
    static void startS3() throws Exception {
        s3 = new EmbeddedS3(0);
        Configuration cluster = s3.flinkConfig();
        FileSystem.initialize(
                cluster,
                new DefaultPluginManager(
                        new DirectoryBasedPluginFinder(
                                        Paths.get("target", "flink-plugins").toAbsolutePath())
                                .findPlugins(),
                        CoreOptions.getPluginParentFirstLoaderPatterns(cluster)));
    }

    @AfterAll
    static void stopS3() throws Exception {
        FileSystem.initialize(new Configuration(), null);
        s3.close();
    }

    @Test
    void aMissingBucketRefusesTheJobWithTheStoresMessage(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        CountingJob.resetCounters();
        JobID job = CountingJob.start(cluster, config("s3://no-such-bucket/checkpoints", true));
        JobResult result = cluster.requestJobResult(job).get(60, TimeUnit.SECONDS);

        assertThat(result.getJobStatus()).contains(JobStatus.FAILED);
        String failure =
                ExceptionUtils.stringifyException(
                        result.getSerializedThrowable()
                                .orElseThrow()
                                .deserializeError(getClass().getClassLoader()));
        System.out.println("Refused as expected:\n" + failure);
        assertThat(failure)
                .contains("Job refused")
                .contains("no-such-bucket")
                .contains("NoSuchBucket")
                .contains(ResilientCheckpointOptions.PROBE_AT_SUBMISSION.key())
                .doesNotContain(EmbeddedS3.SECRET_KEY);
        assertThat(CountingJob.CHECKED.get()).as("no task ever ran").isZero();
    }

    @Test
    void withoutTheProbeTheJobIsAcceptedAsBefore(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        CountingJob.resetCounters();
        JobID job =
                CountingJob.start(cluster, config("s3://no-such-bucket-either/checkpoints", false));
        try {
            CountingJob.awaitChecked(cluster, job, 1);
            assertThat(cluster.getJobStatus(job).get(30, TimeUnit.SECONDS))
                    .isEqualTo(JobStatus.RUNNING);
        } finally {
            cluster.cancelJob(job).get(60, TimeUnit.SECONDS);
            cluster.requestJobResult(job).get(60, TimeUnit.SECONDS);
        }
    }

    private Configuration config(String root, boolean probe) {
        Configuration conf = SubmissionProbeIT.jobConfig(root, spill);
        conf.addAll(s3.flinkConfig());
        conf.set(ResilientCheckpointOptions.PROBE_AT_SUBMISSION, probe);
        return conf;
    }
}
