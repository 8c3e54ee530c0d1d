package io.github.resilientcheckpoints.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.cli.CliJar.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code doctor} as operators run it, from the shaded jar. */
class DoctorJarIT {

    @TempDir Path tmp;

    /** The command's working directory, apart from the distribution and checkpoints it checks. */
    @TempDir Path work;

    private Run java(String... args) throws Exception {
        return CliJar.run(work, args);
    }

    @Test
    void helpAndUsage() throws Exception {
        Run help = java("doctor", "--help");
        assertThat(help.exit()).isZero();
        assertThat(help.output())
                .contains("doctor check")
                .contains("doctor diagnose")
                .contains("--json");
        Run bad = java("doctor", "examine");
        assertThat(bad.exit()).isEqualTo(2);
        assertThat(bad.output()).contains("unknown doctor command 'examine'");
        Run unreachable = java("doctor", "diagnose", "http://127.0.0.1:1");
        assertThat(unreachable.exit()).isEqualTo(2);
        assertThat(unreachable.output())
                .contains("cannot reach Flink's REST API at http://127.0.0.1:1/jobs/overview");
    }

    @Test
    void checkFromTheJarProbesTheRootAndExitsOnFail() throws Exception {
        Path conf = Files.createDirectories(tmp.resolve("flink/conf"));
        Files.write(
                conf.resolve("config.yaml"),
                List.of(
                        "execution.checkpointing.storage: io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory",
                        "execution.checkpointing.dir: " + tmp.resolve("checkpoints").toUri(),
                        "execution.checkpointing.interval: 1 min",
                        "execution.checkpointing.resilient.spill.directories: "
                                + tmp.resolve("spill"),
                        "execution.checkpointing.resilient.spill.floor: 1 mb",
                        "execution.checkpointing.resilient.spill.floor-fraction: 0.0"));
        Run ok = java("doctor", "check", conf.toString());
        assertThat(ok.output())
                .contains("OK   checkpoint-root: wrote, read back and deleted")
                .contains("OK   flink-version: Flink 2.")
                // the jar runs from target/, and the distribution's lib/ has no storage jar
                .contains(
                        "WARN jar-location: no resilient-checkpoint-storage jar in "
                                + tmp.resolve("flink/lib"));
        assertThat(ok.exit()).as(ok.output()).isZero();

        Run bad =
                java(
                        "doctor",
                        "check",
                        "-Dexecution.checkpointing.resilient.spill.floor=1000000 tb",
                        conf.toString(),
                        "--json");
        assertThat(bad.exit()).as(bad.output()).isEqualTo(1);
        assertThat(bad.output()).contains("\"failing\" : true").contains("below the floor");
    }
}
