package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The jar users install, tested as such: a Flink job in a JVM whose classpath holds the shaded
 * s3-storage jar and no AWS SDK checkpoints to s3:// through it.
 */
class ShadedJarIT {

    @TempDir Path spill;

    @TempDir Path childTmp;

    @Test
    void theShadedJarCheckpointsAFlinkJobWithoutAnySdkOnTheClasspath() throws Exception {
        Path shaded;
        try (Stream<Path> files = Files.list(Paths.get("target"))) {
            shaded =
                    files.filter(
                                    p ->
                                            p.getFileName()
                                                    .toString()
                                                    .matches(
                                                            "resilient-checkpoint-storage-s3-.*\\.jar"))
                            .filter(
                                    p ->
                                            !p.getFileName().toString().contains("tests")
                                                    && !p.getFileName()
                                                            .toString()
                                                            .contains("original"))
                            .findFirst()
                            .orElseThrow(
                                    () ->
                                            new AssertionError(
                                                    "no shaded jar in target/; run the package phase"));
        }
        List<String> classpath = new ArrayList<>();
        classpath.add(shaded.toAbsolutePath().toString());
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            String normalized = entry.replace('\\', '/');
            if (normalized.contains("/software/amazon/")
                    || normalized.endsWith("s3-storage/target/classes")) {
                continue;
            }
            classpath.add(entry);
        }
        try (S3Server server = new S3Server()) {
            server.createBucket("shaded");
            String java =
                    System.getProperty("java.home")
                            + File.separator
                            + "bin"
                            + File.separator
                            + "java";
            List<String> command =
                    new ArrayList<>(
                            List.of(
                                    java,
                                    "-Xmx1g",
                                    "-Daws.ec2MetadataDisabled=true",
                                    // Flink's temporary files, inside a directory of the test.
                                    "-Djava.io.tmpdir=" + childTmp,
                                    "--add-opens=java.base/java.lang=ALL-UNNAMED",
                                    "--add-opens=java.base/java.util=ALL-UNNAMED",
                                    "--add-opens=java.base/java.io=ALL-UNNAMED",
                                    "--add-opens=java.base/java.nio=ALL-UNNAMED",
                                    "-cp",
                                    String.join(File.pathSeparator, classpath),
                                    ShadedJarJob.class.getName(),
                                    server.endpoint().toString(),
                                    "s3://shaded/checkpoints",
                                    spill.toString()));
            Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
            String output = new String(child.getInputStream().readAllBytes());
            assertThat(child.waitFor(300, TimeUnit.SECONDS)).isTrue();
            assertThat(child.exitValue()).as(output).isZero();
            assertThat(output)
                    .contains(
                            "store: io.github.resilientcheckpoints.s3.S3Store from file:"
                                    + shaded.toAbsolutePath())
                    .contains("SHADED-OK");
        }
    }
}
