package io.github.resilientcheckpoints.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResilientSettingsTest {

    @TempDir Path tmp;

    private Configuration base() {
        Configuration conf = new Configuration();
        conf.set(CoreOptions.TMP_DIRS, tmp.toString());
        return conf;
    }

    @Test
    void defaultsArePinned() {
        ResilientSettings s = ResilientSettings.fromConfig(base());
        assertThat(s.retryPolicy)
                .hasToString(
                        new RetryPolicy(
                                        10,
                                        Duration.ofMillis(100),
                                        Duration.ofSeconds(10),
                                        Duration.ofMinutes(3))
                                .toString());
        assertThat(s.deadlineFraction).isEqualTo(0.9);
        assertThat(s.checkpointTimeout).isEqualTo(Duration.ofMinutes(10));
        assertThat(s.uploadThreads).isEqualTo(16);
        assertThat(s.faultInjection.enabled()).isFalse();
        assertThat(s.spillDirectories).containsExactly(tmp.toString());
        assertThat(s.uploadBudgetNanos()).isEqualTo(Duration.ofMinutes(9).toNanos());
        assertThat(s.probeTimeout).isEqualTo(Duration.ofSeconds(30));
    }

    @Test
    void aProbeTimeoutOutOfRangeNamesTheKeyAndTheRange() {
        Configuration conf = base();
        conf.set(ResilientCheckpointOptions.PROBE_TIMEOUT, Duration.ofMillis(10));
        assertThatThrownBy(() -> ResilientSettings.fromConfig(conf))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining("'execution.checkpointing.resilient.probe-timeout'")
                .hasMessageContaining("between 1 s and 5 min");
    }

    @Test
    void aBadSubmissionProbeFlagFailsWhenTheStorageIsBuiltNamingTheKey() {
        Configuration conf = base();
        conf.setString(ResilientCheckpointOptions.PROBE_AT_SUBMISSION.key(), "maybe");
        assertThatThrownBy(() -> ResilientSettings.fromConfig(conf))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining("execution.checkpointing.resilient.probe-at-submission")
                .hasMessageContaining("maybe");
    }

    @Test
    void readingTheConfigurationCreatesNoSpillDirectory() {
        Path a = tmp.resolve("a/b");
        Configuration conf = base();
        conf.set(
                ResilientCheckpointOptions.SPILL_DIRECTORIES,
                List.of(a.toString(), tmp.resolve("c").toString()));
        ResilientSettings s = ResilientSettings.fromConfig(conf);
        assertThat(s.spillDirectories).hasSize(2);
        assertThat(tmp.resolve("a")).as("the JobManager reads this config too").doesNotExist();
        assertThat(tmp.resolve("c")).doesNotExist();
    }

    @Test
    void aCleanupGraceShorterThanTheCheckpointTimeoutIsRefusedNamingBothKeys() {
        Configuration conf = base();
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(10));
        conf.set(ResilientCheckpointOptions.CLEANUP_GRACE, Duration.ofMinutes(5));
        assertThatThrownBy(() -> ResilientSettings.fromConfig(conf))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining(
                        "'execution.checkpointing.resilient.cleanup.grace' (5 min) must not be shorter"
                                + " than 'execution.checkpointing.timeout' (10 min)");
        conf.set(ResilientCheckpointOptions.CLEANUP_GRACE, Duration.ofMinutes(10));
        assertThat(ResilientSettings.fromConfig(conf).cleanup.grace())
                .isEqualTo(Duration.ofMinutes(10));
    }

    @Test
    void negativeAttemptsNameTheKeyAndTheRange() {
        Configuration conf = base();
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, -1);
        assertThatThrownBy(() -> ResilientSettings.fromConfig(conf))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining("'execution.checkpointing.resilient.retry.max-attempts'")
                .hasMessageContaining("between 1 and 1000");
    }

    @Test
    void unknownDurationUnitNamesTheKeyAndTheUnits() {
        Configuration conf = base();
        conf.setString(ResilientCheckpointOptions.RETRY_MAX_BACKOFF.key(), "5 parsecs");
        assertThatThrownBy(() -> ResilientSettings.fromConfig(conf))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining("'execution.checkpointing.resilient.retry.max-backoff'")
                .hasMessageContaining("units: ns, us, ms, s, min, h, d");
    }

    @Test
    void crossFieldRuleNamesBothKeys() {
        Configuration conf = base();
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofSeconds(30));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofSeconds(1));
        assertThatThrownBy(() -> ResilientSettings.fromConfig(conf))
                .hasMessageContaining("retry.max-backoff")
                .hasMessageContaining("retry.initial-backoff");
    }

    @Test
    void outOfRangeFractionsAreRejected() {
        Configuration conf = base();
        conf.set(ResilientCheckpointOptions.DEADLINE_FRACTION, 1.5);
        assertThatThrownBy(() -> ResilientSettings.fromConfig(conf))
                .hasMessageContaining("retry.deadline-fraction")
                .hasMessageContaining("between 0.1 and 1.0");
        Configuration faults = base();
        faults.set(ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO, 1.0);
        assertThatThrownBy(() -> ResilientSettings.fromConfig(faults))
                .hasMessageContaining("fault-injection.transient-failure-ratio");
    }

    @Test
    void spillDirectoryThatCannotBeCreatedDoesNotFailTheConfiguration() throws Exception {
        // The JobManager builds the storage too, and need not have the TaskManagers' disks.
        Path file = Files.writeString(tmp.resolve("plain-file"), "x");
        Configuration conf = base();
        conf.set(
                ResilientCheckpointOptions.SPILL_DIRECTORIES,
                List.of(file.resolve("spill").toString()));
        conf.set(
                CheckpointingOptions.CHECKPOINTS_DIRECTORY,
                tmp.resolve("checkpoints").toUri().toString());
        ResilientCheckpointStorage storage =
                new ResilientCheckpointStorageFactory()
                        .createFromConfig(conf, getClass().getClassLoader());
        assertThat(storage.settings().spillDirectories)
                .containsExactly(file.resolve("spill").toString());
        assertThat(file).isRegularFile().hasContent("x");
    }

    @Test
    void factoryFailsAtStartWithoutACheckpointDirectory() {
        assertThatThrownBy(
                        () ->
                                new ResilientCheckpointStorageFactory()
                                        .createFromConfig(base(), getClass().getClassLoader()))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining(CheckpointingOptions.CHECKPOINTS_DIRECTORY.key());
    }

    @Test
    void secretsStayOutOfToString() {
        Configuration conf = base();
        conf.setString("s3.secret-key", "very-secret-value");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, tmp.toUri().toString());
        ResilientCheckpointStorage storage =
                new ResilientCheckpointStorageFactory()
                        .createFromConfig(conf, getClass().getClassLoader());
        assertThat(storage.toString()).doesNotContain("very-secret-value");
        assertThat(storage.settings().redactor().redact("x very-secret-value y"))
                .isEqualTo("x ****** y");
    }
}
