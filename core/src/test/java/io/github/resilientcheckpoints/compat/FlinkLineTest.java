package io.github.resilientcheckpoints.compat;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.runtime.util.EnvironmentInformation;
import org.junit.jupiter.api.Test;

/**
 * Core's sources are built twice: module core against Flink 2.x, module core-flink1.20 against
 * Flink 1.20. Each build must carry the compat sources of its own line.
 */
class FlinkLineTest {

    @Test
    void theCompatSourcesMatchTheFlinkOnTheClasspath() {
        String flink = EnvironmentInformation.getVersion();
        if (FlinkCompat.FLINK_LINE.equals("1.20")) {
            assertThat(flink).startsWith("1.20.");
        } else {
            assertThat(flink).startsWith("2.");
        }
    }
}
