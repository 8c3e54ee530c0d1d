package io.github.resilientcheckpoints.cli.doctor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.resilientcheckpoints.testing.SmallDisk;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code doctor check} on real directories, files and file systems; one check per case. */
class PreflightTest {

    static final String FACTORY =
            "io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory";

    @TempDir Path tmp;

    private record Run(int exit, String out, String err) {
        List<String> lines(String level, String check) {
            return Arrays.stream(out.split("\n"))
                    .filter(l -> l.startsWith(level) && l.contains(" " + check + ":"))
                    .toList();
        }
    }

    /**
     * A Flink distribution: conf/config.yaml with the given lines, lib/ with the jar to install.
     */
    private Path distribution(String... yaml) throws Exception {
        Path home = tmp.resolve("flink");
        Files.createDirectories(home.resolve("conf"));
        Files.createDirectories(home.resolve("lib"));
        Files.createDirectories(home.resolve("plugins"));
        Files.write(home.resolve("lib/resilient-checkpoint-storage-0.1.0.jar"), new byte[0]);
        List<String> lines =
                new ArrayList<>(
                        List.of(
                                "execution.checkpointing.storage: " + FACTORY,
                                "execution.checkpointing.dir: "
                                        + tmp.resolve("checkpoints").toUri(),
                                "execution.checkpointing.interval: 1 min",
                                "execution.checkpointing.resilient.spill.directories: "
                                        + tmp.resolve("spill"),
                                "execution.checkpointing.resilient.spill.floor: 1 mb",
                                "execution.checkpointing.resilient.spill.floor-fraction: 0.0"));
        lines.addAll(List.of(yaml));
        Files.write(home.resolve("conf/config.yaml"), lines);
        return home;
    }

    private static Run check(Path home, String... args) {
        List<String> all = new ArrayList<>(List.of("check"));
        all.addAll(List.of(args));
        all.add(home.resolve("conf").toString());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit =
                DoctorCommand.run(
                        all.toArray(String[]::new),
                        new PrintStream(out, true, StandardCharsets.UTF_8),
                        new PrintStream(err, true, StandardCharsets.UTF_8),
                        Map.of("FLINK_HOME", home.toString()));
        return new Run(
                exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aGoodSetupIsAllOkAndTheProbeLeavesNothing() throws Exception {
        Path home = distribution();
        Run run = check(home);
        System.out.println(run.out());
        assertThat(run.exit()).as(run.out() + run.err()).isZero();
        assertThat(run.out()).doesNotContain("FAIL ").doesNotContain("WARN ");
        assertThat(run.lines("OK", "flink-version"))
                .singleElement()
                .asString()
                .contains("Flink 2.");
        assertThat(run.lines("OK", "jar-location"))
                .singleElement()
                .asString()
                .contains("resilient-checkpoint-storage-0.1.0.jar");
        assertThat(run.lines("OK", "config")).hasSize(1);
        assertThat(run.lines("OK", "checkpoint-root"))
                .singleElement()
                .asString()
                .contains("wrote, read back and deleted");
        assertThat(run.lines("OK", "spill"))
                .singleElement()
                .asString()
                .contains("usable for spill");
        try (var left = Files.list(tmp.resolve("checkpoints"))) {
            assertThat(left).as("the probe object was deleted").isEmpty();
        }
    }

    @Test
    void badKeysAreNamedWithTheFix() throws Exception {
        Path home = distribution("execution.checkpointing.resilient.retry.max-attempt: 5");
        Run unknown = check(home);
        assertThat(unknown.exit()).isEqualTo(1);
        assertThat(unknown.lines("FAIL", "config"))
                .singleElement()
                .asString()
                .contains("unknown key 'execution.checkpointing.resilient.retry.max-attempt'")
                .contains("did you mean 'execution.checkpointing.resilient.retry.max-attempts'");
        assertThat(unknown.lines("WARN", "checkpoint-root"))
                .as("no probe with a broken config")
                .hasSize(1);

        Run unreadable =
                check(
                        distribution(),
                        "-Dexecution.checkpointing.resilient.retry.max-attempts=many");
        assertThat(unreadable.exit()).isEqualTo(1);
        assertThat(unreadable.lines("FAIL", "config"))
                .singleElement()
                .asString()
                .contains("cannot read 'execution.checkpointing.resilient.retry.max-attempts'");

        // a rule across keys, from the storage's own validation
        Run rule =
                check(
                        distribution(),
                        "-Dexecution.checkpointing.resilient.throttle.max-rate=1 kb",
                        "-Dexecution.checkpointing.resilient.throttle.min-rate=1 mb");
        assertThat(rule.exit()).isEqualTo(1);
        assertThat(rule.lines("FAIL", "config"))
                .singleElement()
                .asString()
                .contains("execution.checkpointing.resilient.throttle.max-rate")
                .contains("execution.checkpointing.resilient.throttle.min-rate");
    }

    @Test
    void flinkKeysWeDependOnAreChecked() throws Exception {
        Run run =
                check(
                        distribution(),
                        "-Dexecution.checkpointing.storage=jobmanager",
                        "-Dexecution.checkpointing.timeout=10 s",
                        "-Dexecution.checkpointing.resilient.retry.attempt-timeout=8 s");
        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.lines("FAIL", "storage"))
                .singleElement()
                .asString()
                .contains("-> execution.checkpointing.storage: " + FACTORY);
        assertThat(run.lines("WARN", "timeout"))
                .singleElement()
                .asString()
                .contains("fewer than two attempts fit")
                .contains("execution.checkpointing.resilient.retry.attempt-timeout: ");
    }

    @Test
    void anUnreachableRootFailsTheProbe() throws Exception {
        Path notADirectory = Files.write(tmp.resolve("a-file"), new byte[] {1});
        Run run =
                check(
                        distribution(),
                        "-Dexecution.checkpointing.dir=" + notADirectory.toUri() + "/checkpoints");
        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.lines("FAIL", "checkpoint-root"))
                .singleElement()
                .asString()
                .contains("cannot write")
                .contains("a-file/checkpoints/.rcs-doctor-probe-")
                .contains("-> create the directory");

        Run scheme =
                check(
                        distribution(),
                        "-Dexecution.checkpointing.dir=nosuchscheme://bucket/checkpoints");
        assertThat(scheme.exit()).isEqualTo(1);
        assertThat(scheme.lines("FAIL", "checkpoint-root"))
                .singleElement()
                .asString()
                .contains("nosuchscheme://bucket/checkpoints")
                .contains("plugin");
    }

    @Test
    void aSpillDirectoryBelowTheFloorFails() throws Exception {
        // more floor than this disk has: nothing may spill here
        Run run =
                check(distribution(), "-Dexecution.checkpointing.resilient.spill.floor=1000000 tb");
        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.lines("FAIL", "spill"))
                .singleElement()
                .asString()
                .contains(tmp.resolve("spill").toString())
                .contains("below the floor")
                .contains("execution.checkpointing.resilient.spill.floor");
    }

    @Test
    void aSmallRealDiskBelowTheFloorFails() throws Exception {
        java.util.Optional<Path> small = SmallDisk.location();
        assumeTrue(
                small.isPresent(),
                "RCS_SMALL_DISK (a small tmpfs, mounted by .ci/run as root) is not set");
        Path dir = small.get().resolve("doctor-" + System.nanoTime());
        Run run =
                check(
                        distribution(),
                        "-Dexecution.checkpointing.resilient.spill.directories=" + dir,
                        "-Dexecution.checkpointing.resilient.spill.floor=1 gb");
        assertThat(run.lines("FAIL", "spill"))
                .singleElement()
                .asString()
                .contains("below the floor");
        Run fits =
                check(
                        distribution(),
                        "-Dexecution.checkpointing.resilient.spill.directories=" + dir,
                        "-Dexecution.checkpointing.resilient.spill.floor=1 mb",
                        "-Dexecution.checkpointing.resilient.spill.quota=10 gb");
        assertThat(fits.lines("OK", "spill")).hasSize(1);
        assertThat(fits.lines("WARN", "spill"))
                .singleElement()
                .asString()
                .contains("less than execution.checkpointing.resilient.spill.quota");
    }

    @Test
    void aJarInPluginsFails() throws Exception {
        Path home = distribution();
        Path plugin =
                Files.createDirectories(home.resolve("plugins/rcs"))
                        .resolve("resilient-checkpoint-storage-core-0.1.0.jar");
        Files.write(plugin, new byte[0]);
        List<Finding> findings =
                new JarPlacementCheck(home.resolve("lib"), home.resolve("plugins"), plugin).run();
        assertThat(findings)
                .singleElement()
                .satisfies(
                        f -> {
                            assertThat(f.level()).isEqualTo(Finding.Level.FAIL);
                            assertThat(f.message()).contains("inside plugins/");
                            assertThat(f.fix()).contains("lib/");
                        });
        List<Finding> fromLib =
                new JarPlacementCheck(
                                home.resolve("lib"),
                                home.resolve("plugins"),
                                Paths.get("/opt/cli.jar"))
                        .run();
        assertThat(fromLib)
                .anySatisfy(
                        f -> {
                            assertThat(f.level()).isEqualTo(Finding.Level.FAIL);
                            assertThat(f.message())
                                    .contains(
                                            "plugins/rcs/resilient-checkpoint-storage-core-0.1.0.jar");
                        });
    }

    @Test
    void aMissingConfigFileIsNamed() throws Exception {
        Path empty = Files.createDirectories(tmp.resolve("empty/conf"));
        Run run = check(empty.getParent());
        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.lines("FAIL", "conf-dir"))
                .singleElement()
                .asString()
                .contains(empty.toString());
    }
}
