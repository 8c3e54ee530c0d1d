package io.github.resilientcheckpoints.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.cleanup.CleanupSettings;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.store.FaultInjection;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.UploadThrottle;
import java.io.File;
import java.time.Duration;
import java.util.List;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.MemorySize;
import org.junit.jupiter.api.Test;

/** Each component reads and checks its own keys; a bad value names the key. */
class ComponentConfigTest {

    @Test
    void retryPolicyNamesItsKeys() {
        Configuration conf = new Configuration();
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofSeconds(5));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofSeconds(1));
        assertThatThrownBy(() -> RetryPolicy.fromConfig(conf))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining(ResilientCheckpointOptions.RETRY_MAX_BACKOFF.key())
                .hasMessageContaining(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF.key());
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofSeconds(5));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 4);
        assertThat(RetryPolicy.fromConfig(conf).maxAttempts()).isEqualTo(4);
    }

    @Test
    void throttleSettingsNameTheirKeys() {
        Configuration conf = new Configuration();
        conf.set(ResilientCheckpointOptions.THROTTLE_DECREASE_FACTOR, 0.99);
        assertThatThrownBy(() -> UploadThrottle.Settings.fromConfig(conf))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining(ResilientCheckpointOptions.THROTTLE_DECREASE_FACTOR.key());
        conf.set(ResilientCheckpointOptions.THROTTLE_DECREASE_FACTOR, 0.5);
        conf.set(ResilientCheckpointOptions.THROTTLE_MAX_CONCURRENT_UPLOADS, 3);
        assertThat(UploadThrottle.Settings.fromConfig(conf).maxConcurrency()).isEqualTo(3);
    }

    @Test
    void spillLimitsAndDirectoriesNameTheirKeysAndCreateNothing() {
        Configuration conf = new Configuration();
        conf.set(ResilientCheckpointOptions.SPILL_RESERVATION_CHUNK, MemorySize.parse("1 kb"));
        assertThatThrownBy(() -> SpillLimits.fromConfig(conf))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining(ResilientCheckpointOptions.SPILL_RESERVATION_CHUNK.key());
        conf.set(CoreOptions.TMP_DIRS, "/nonexistent-rcs/a,/nonexistent-rcs/b");
        assertThat(SpillLimits.directories(conf))
                .containsExactly("/nonexistent-rcs/a", "/nonexistent-rcs/b");
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of("/nonexistent-rcs/c"));
        assertThat(SpillLimits.directories(conf)).containsExactly("/nonexistent-rcs/c");
        assertThat(new File("/nonexistent-rcs")).doesNotExist();
    }

    @Test
    void faultInjectionRatiosTogetherAtMostNinetyPercent() {
        Configuration conf = new Configuration();
        assertThat(FaultInjection.fromConfig(conf).enabled()).isFalse();
        conf.set(ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO, 0.5);
        conf.set(ResilientCheckpointOptions.FAULT_INJECTION_THROTTLED_RATIO, 0.5);
        assertThatThrownBy(() -> FaultInjection.fromConfig(conf))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining("together must not exceed 0.9");
    }

    @Test
    void theDefaultGraceIsComputedInOnePlace() {
        assertThat(CleanupSettings.defaultGrace(Duration.ofMinutes(10)))
                .isEqualTo(Duration.ofHours(1));
        assertThat(CleanupSettings.defaultGrace(Duration.ofMinutes(30)))
                .isEqualTo(Duration.ofMinutes(90));
        assertThat(CleanupSettings.fromConfig(new Configuration(), Duration.ofMinutes(30)).grace())
                .isEqualTo(Duration.ofMinutes(90));
    }
}
