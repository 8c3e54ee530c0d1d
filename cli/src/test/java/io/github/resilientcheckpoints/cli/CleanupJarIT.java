package io.github.resilientcheckpoints.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.cli.CliJar.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command as operators run it: {@code java -jar resilient-checkpoint-storage-cli.jar cleanup
 * ...}.
 */
class CleanupJarIT {

    @TempDir Path root;

    /** The command's working directory, apart from the checkpoint directories it works on. */
    @TempDir Path work;

    private Run java(String... args) throws Exception {
        return CliJar.run(work, args);
    }

    @Test
    void dryRunThenExecuteOnAJobDirectory() throws Exception {
        Path job = root.resolve("0123456789abcdef0123456789abcdef");
        Path aborted = write(job.resolve("chk-7/state"));
        Path shared = write(job.resolve("shared/old-file"));
        Path young = write(job.resolve("shared/young-file"));
        FileTime old = FileTime.from(Instant.now().minus(Duration.ofDays(1)));
        Files.setLastModifiedTime(aborted, old);
        Files.setLastModifiedTime(shared, old);

        Run dry = java("cleanup", root.toString(), "--older-than", "2 h");
        assertThat(dry.exit()).as(dry.output()).isZero();
        assertThat(dry.output())
                .contains("would delete file:" + aborted)
                .contains("would delete file:" + shared)
                .doesNotContain("young-file")
                .contains("Summary: 2 orphaned files (6 bytes)")
                .contains("Dry run: nothing was deleted");
        assertThat(aborted).exists();

        Run run = java("cleanup", root.toString(), "--older-than", "2 h", "--execute");
        assertThat(run.exit()).as(run.output()).isZero();
        assertThat(run.output()).contains("Deleted 2 files (6 bytes)");
        assertThat(aborted).doesNotExist();
        assertThat(shared).doesNotExist();
        assertThat(young).exists();
    }

    @Test
    void aDirectoryWithoutCommandIsRefusedAndHelpNamesTheCommands() throws Exception {
        Path job = root.resolve("0123456789abcdef0123456789abcdef");
        Path aborted = write(job.resolve("chk-3/state"));
        Files.setLastModifiedTime(aborted, FileTime.from(Instant.now().minus(Duration.ofDays(1))));
        Run bare = java(root.toString(), "--older-than", "2 h", "--execute");
        assertThat(bare.exit()).as(bare.output()).isEqualTo(2);
        assertThat(bare.output())
                .contains("unknown command '" + root + "'")
                .contains("usage: java -jar resilient-checkpoint-storage-cli.jar <command>");
        assertThat(aborted).exists();
        Run help = java("cleanup", "--help");
        assertThat(help.exit()).isZero();
        assertThat(help.output()).contains("usage: cleanup").contains("--keep-jobs");
        Run top = java("--help");
        assertThat(top.exit()).isZero();
        assertThat(top.output())
                .contains("cleanup <checkpoint-root-or-job-dir>")
                .contains("doctor check")
                .contains("doctor diagnose");
    }

    @Test
    void badUsageAndNonCheckpointDirectoriesAreRefused() throws Exception {
        Run usage = java("cleanup", "--retain", "many");
        assertThat(usage.exit()).isEqualTo(2);
        assertThat(usage.output()).contains("--retain needs a number").contains("usage: cleanup");
        Path notes = write(root.resolve("notes/readme.txt")).getParent();
        Run refused = java("cleanup", notes.toString(), "--execute");
        assertThat(refused.exit()).isEqualTo(2);
        assertThat(refused.output()).contains("not a Flink checkpoint directory");
        assertThat(notes.resolve("readme.txt")).exists();
    }

    private static Path write(Path file) throws Exception {
        Files.createDirectories(file.getParent());
        return Files.write(file, new byte[] {1, 2, 3});
    }
}
