package io.github.resilientcheckpoints.cli.cleanup;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the cleanup command line refuses, and how it says so; nothing is deleted when it refuses.
 */
class CleanupCommandTest {

    static final FileTime TWO_DAYS_AGO = FileTime.from(Instant.now().minus(Duration.ofDays(2)));

    @TempDir Path root;

    private record Run(int exit, String out, String err) {}

    private Run cleanup(Configuration conf, String... extra) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> args = new ArrayList<>(List.of(root.toString(), "--execute"));
        args.addAll(List.of(extra));
        int exit =
                CleanupCommand.run(
                        args.toArray(String[]::new),
                        conf,
                        new FlinkFileSystemStore(),
                        System.currentTimeMillis(),
                        new PrintStream(out, true, StandardCharsets.UTF_8),
                        new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(
                exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private Path orphan() throws Exception {
        Path f = root.resolve("0123456789abcdef0123456789abcdef/chk-1/abandoned");
        Files.createDirectories(f.getParent());
        Files.write(f, new byte[] {1});
        Files.setLastModifiedTime(f, TWO_DAYS_AGO);
        return f;
    }

    @Test
    void retainZeroIsRefused() throws Exception {
        Path orphan = orphan();
        Run run = cleanup(new Configuration(), "--retain", "0");
        assertThat(run.exit()).isEqualTo(2);
        assertThat(run.err())
                .contains("--retain needs a number of 1 or more, got '0'")
                .contains("Flink always retains at least 1 checkpoint");
        assertThat(orphan).exists();
    }

    @Test
    void keepJobsZeroIsRefused() throws Exception {
        Path orphan = orphan();
        Run run = cleanup(new Configuration(), "--keep-jobs", "0");
        assertThat(run.exit()).isEqualTo(2);
        assertThat(run.err()).contains("--keep-jobs needs a number of 1 or more, got '0'");
        assertThat(orphan).exists();
    }

    @Test
    void aGraceBelowTheCheckpointTimeoutNeedsAnExplicitFlag() throws Exception {
        Path orphan = orphan();
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(10));
        Run refused = cleanup(conf, "--older-than", "1 min");
        assertThat(refused.exit()).isEqualTo(2);
        assertThat(refused.err())
                .contains(
                        "--older-than 1 min is shorter than execution.checkpointing.timeout (10 min)")
                .contains("--allow-grace-below-timeout");
        assertThat(orphan).exists();

        Run allowed = cleanup(conf, "--older-than", "1 min", "--allow-grace-below-timeout");
        assertThat(allowed.exit()).as(allowed.out() + allowed.err()).isZero();
        assertThat(allowed.err())
                .contains(
                        "WARNING: --older-than 1 min is shorter than execution.checkpointing.timeout");
        assertThat(orphan).doesNotExist();
    }

    @Test
    void aGraceOfAtLeastTheTimeoutIsAccepted() throws Exception {
        Path orphan = orphan();
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(1));
        Run run = cleanup(conf, "--older-than", "1 min");
        assertThat(run.exit()).as(run.out() + run.err()).isZero();
        assertThat(run.err()).doesNotContain("WARNING");
        assertThat(orphan).doesNotExist();
    }
}
