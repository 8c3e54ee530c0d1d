package io.github.resilientcheckpoints.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's main command runs this demo; here it must end with its pass line. */
class ResilienceDemoTest {

    @TempDir Path work;

    @Test
    void demoPassesAndSaysSo() throws Exception {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        ResilienceDemo.Result result;
        try (PrintStream out = new PrintStream(buffer, true, StandardCharsets.UTF_8)) {
            result = ResilienceDemo.run(work, out);
        }
        String printed = buffer.toString(StandardCharsets.UTF_8);
        assertThat(result.passed()).as(printed).isTrue();
        assertThat(result.slowDowns())
                .as("the server answered writes with 503 SlowDown")
                .isPositive();
        assertThat(result.restoredFrom()).startsWith("s3://demo/checkpoints/");
        assertThat(result.checkpointsFailed()).isZero();
        assertThat(printed.strip().lines().reduce((a, b) -> b).orElseThrow()).startsWith("PASS: ");
    }
}
