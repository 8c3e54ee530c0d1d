package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.ExceptionUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A job whose S3 keys are wrong fails when it is submitted, naming the key, before any checkpoint.
 */
class S3SubmissionValidationIT {

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @Test
    void aJobWithABadS3KeyFailsAtSubmissionNamingTheKey(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(),
                        "hashmap",
                        "s3://bucket/validation");
        conf.setString("s3.endpoint", "http://127.0.0.1:9");
        conf.setString("s3.region", "us-east-1");
        conf.setString(S3StoreOptions.PART_SIZE.key(), "1 mb");
        CountingJob.resetCounters(); // static: other ITs of this JVM counted before
        JobID job = CountingJob.start(cluster, conf);
        JobResult result = cluster.requestJobResult(job).get(60, TimeUnit.SECONDS);
        assertThat(result.getSerializedThrowable()).isPresent();
        Throwable failure =
                result.getSerializedThrowable().get().deserializeError(getClass().getClassLoader());
        assertThat(ExceptionUtils.stringifyException(failure))
                .contains("'" + S3StoreOptions.PART_SIZE.key() + "'")
                .contains("5 mb to 5 gb");
        assertThat(CountingJob.CHECKED.get()).as("no record was processed").isZero();
    }
}
