package io.github.resilientcheckpoints.cli.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.demo.EmbeddedS3;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code doctor check} against a Flink home laid out as the README's Install section says: the one
 * jar {@code resilient-checkpoint-storage-<version>.jar} in {@code lib/}, Flink's own S3 file
 * system (the real {@code flink-s3-fs-native} jar) in {@code plugins/s3-fs-native/}, and an {@code
 * s3://} checkpoint root on a loopback S3 server. The command runs from another working directory,
 * as an operator's shell would be.
 */
class InstalledDistributionTest {

    private static final String BUCKET = "checkpoints";

    private static EmbeddedS3 s3;

    @TempDir Path tmp;

    @BeforeAll
    static void startS3() throws Exception {
        s3 = new EmbeddedS3(0);
        s3.createBucket(BUCKET);
    }

    @AfterAll
    static void stopS3() throws Exception {
        if (s3 != null) {
            s3.close();
        }
    }

    /** The README's install: lib/ with the dist jar only, plugins/s3-fs-native/ with Flink's. */
    private Path installedHome() throws Exception {
        Path home = tmp.resolve("flink-2.3.0");
        Path lib = Files.createDirectories(home.resolve("lib"));
        writeJar(lib.resolve("resilient-checkpoint-storage-0.1.0-SNAPSHOT.jar"));
        Path plugin = Files.createDirectories(home.resolve("plugins/s3-fs-native"));
        Path built = Paths.get(System.getProperty("rcs.flink.plugins"), "s3-fs-native");
        try (Stream<Path> jars = Files.list(built)) {
            for (Path jar : jars.toList()) {
                Files.copy(jar, plugin.resolve(jar.getFileName()));
            }
        }
        List<String> yaml =
                new ArrayList<>(
                        List.of(
                                "execution.checkpointing.storage: " + FlinkKeysCheck.FACTORY,
                                "execution.checkpointing.dir: s3://" + BUCKET + "/flink",
                                "execution.checkpointing.interval: 1 min",
                                "execution.checkpointing.resilient.spill.directories: "
                                        + tmp.resolve("spill"),
                                "execution.checkpointing.resilient.spill.floor: 1 mb",
                                "execution.checkpointing.resilient.spill.floor-fraction: 0.0"));
        s3.flinkConfig().toMap().forEach((key, value) -> yaml.add(key + ": " + value));
        Files.createDirectories(home.resolve("conf"));
        Files.write(home.resolve("conf/config.yaml"), yaml);
        return home;
    }

    private static void writeJar(Path jar) throws Exception {
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        try (OutputStream out = Files.newOutputStream(jar);
                JarOutputStream ignored = new JarOutputStream(out, manifest)) {
            // an empty jar with the dist module's name
        }
    }

    private static String check(Path confDir, Map<String, String> env) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit =
                DoctorCommand.run(
                        new String[] {"check", confDir.toString()},
                        new PrintStream(out, true, StandardCharsets.UTF_8),
                        new PrintStream(out, true, StandardCharsets.UTF_8),
                        env);
        String printed = out.toString(StandardCharsets.UTF_8);
        assertThat(exit).as(printed).isZero();
        return printed;
    }

    @Test
    void theReadmeInstallPassesFromTheConfDirAlone() throws Exception {
        Path home = installedHome();
        String printed = check(home.resolve("conf"), Map.of());
        assertThat(printed)
                .doesNotContain("caffeine")
                .doesNotContain("Could not find a file system implementation")
                .contains(
                        "OK   jar-location: found [resilient-checkpoint-storage-0.1.0-SNAPSHOT.jar] in "
                                + home.resolve("lib"))
                .contains("OK   checkpoint-root: wrote, read back and deleted a probe under s3://");
    }

    @Test
    void theReadmeInstallPassesWithFlinkHome() throws Exception {
        Path home = installedHome();
        String printed = check(home.resolve("conf"), Map.of("FLINK_HOME", home.toString()));
        assertThat(printed)
                .doesNotContain("caffeine")
                .doesNotContain("Could not find a file system implementation")
                .contains("OK   checkpoint-root: wrote, read back and deleted a probe under s3://");
    }

    @Test
    void flinkPluginsDirIsHonoured() throws Exception {
        Path home = installedHome();
        Path elsewhere = Files.move(home.resolve("plugins"), tmp.resolve("other-plugins"));
        String printed =
                check(home.resolve("conf"), Map.of("FLINK_PLUGINS_DIR", elsewhere.toString()));
        assertThat(printed)
                .doesNotContain("Could not find a file system implementation")
                .contains("OK   checkpoint-root: wrote, read back and deleted a probe under s3://");
    }

    @Test
    void withoutAJarInLibTheAdviceNamesTheDistJar() throws Exception {
        Path home = installedHome();
        Files.delete(home.resolve("lib/resilient-checkpoint-storage-0.1.0-SNAPSHOT.jar"));
        String printed = check(home.resolve("conf"), Map.of());
        assertThat(printed)
                .contains("WARN jar-location: no resilient-checkpoint-storage jar in ")
                .contains("dist/target/resilient-checkpoint-storage-<version>.jar")
                .doesNotContain("caffeine")
                .doesNotContain("-core-<version>.jar");
    }
}
