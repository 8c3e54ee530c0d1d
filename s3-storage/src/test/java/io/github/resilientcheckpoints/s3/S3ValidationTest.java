package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every S3 key is checked where the storage is built from the configuration (the JobManager, at job
 * submission), with a message naming the key as it was spelled.
 */
class S3ValidationTest {

    private static Configuration valid() {
        Configuration conf = new Configuration();
        conf.setString("s3.endpoint", "http://127.0.0.1:9");
        conf.setString("s3.region", "us-east-1");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, "s3://bucket/checkpoints");
        return conf;
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "execution.checkpointing.resilient.s3.part-size|1 mb",
                "execution.checkpointing.resilient.s3.part-size|6 gb",
                "execution.checkpointing.resilient.s3.part-size|lots",
                "execution.checkpointing.resilient.s3.multipart-threshold|6 gb",
                "execution.checkpointing.resilient.s3.parallel-parts|0",
                "execution.checkpointing.resilient.s3.part-attempts|1000",
                "execution.checkpointing.resilient.s3.request-timeout|0 s",
                "s3.path-style-access|maybe",
                "s3.path.style.access|maybe",
                "s3.access-key|only-the-access-key",
                "s3.access.key|only-the-access-key",
                "s3.secret.key|only-the-secret-key-must-not-leak"
            })
    void aBadValueFailsWhenTheStorageIsBuiltNamingTheKey(String key, String value) {
        Configuration conf = valid();
        conf.setString(key, value);
        assertThatThrownBy(
                        () ->
                                new ResilientCheckpointStorageFactory()
                                        .createFromConfig(conf, getClass().getClassLoader()))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining(key)
                .hasMessageNotContaining("only-the-secret-key-must-not-leak");
    }

    @Test
    void anEntropyLengthOfZeroIsRefusedWhenEntropyIsOn() {
        Configuration conf = valid();
        conf.setString("s3.entropy.key", "_entropy_");
        conf.setString("s3.entropy.length", "0");
        assertThatThrownBy(() -> new S3StoreProvider().validate(conf))
                .hasMessageContaining("s3.entropy.length");
    }

    @Test
    void aMissingRegionIsNamedAsS3Region() {
        // No endpoint, no region, and a region chain that finds none (instance metadata off).
        Assumptions.assumeTrue(
                System.getenv("AWS_REGION") == null
                        && System.getenv("AWS_DEFAULT_REGION") == null
                        && System.getProperty("aws.region") == null);
        String before = System.getProperty("aws.disableEc2Metadata");
        System.setProperty("aws.disableEc2Metadata", "true");
        try {
            Configuration conf = new Configuration();
            assertThatThrownBy(() -> new S3StoreProvider().validate(conf))
                    .isInstanceOf(IllegalConfigurationException.class)
                    .hasMessageContaining("'s3.region'");
        } finally {
            if (before == null) {
                System.clearProperty("aws.disableEc2Metadata");
            } else {
                System.setProperty("aws.disableEc2Metadata", before);
            }
        }
    }

    @Test
    void aValidConfigurationPasses() {
        assertThatCode(
                        () ->
                                new ResilientCheckpointStorageFactory()
                                        .createFromConfig(valid(), getClass().getClassLoader()))
                .doesNotThrowAnyException();
    }
}
