package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

class ResilientCheckpointStorageTest {

    @TempDir Path tmp;

    private Configuration config() {
        Configuration conf = new Configuration();
        conf.set(CoreOptions.TMP_DIRS, tmp.resolve("spill").toString());
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, tmp.resolve("checkpoints").toUri().toString());
        return conf;
    }

    @Test
    void storageSurvivesJavaSerialization() throws Exception {
        Configuration conf = config();
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 7);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(20));
        ResilientCheckpointStorage storage =
                new ResilientCheckpointStorageFactory().createFromConfig(conf, getClass().getClassLoader());

        byte[] bytes = InstantiationUtil.serializeObject(storage);
        ResilientCheckpointStorage copy = InstantiationUtil.deserializeObject(bytes, getClass().getClassLoader());

        assertThat(copy.toString()).isEqualTo(storage.toString());
        assertThat(copy.settings().maxAttempts).isEqualTo(7);
        assertThat(copy.delegate().getCheckpointPath()).isEqualTo(storage.delegate().getCheckpointPath());
    }
}
