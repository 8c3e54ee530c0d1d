package io.github.resilientcheckpoints.dist;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.demo.EmbeddedS3;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one jar users copy into Flink's lib/, tested as such: what it contains, and a Flink job in a
 * JVM whose classpath is Flink plus that jar (no other jar of this project, no Caffeine, no AWS
 * SDK).
 */
class DistJarIT {

    private static final String OURS = "io/github/resilientcheckpoints/";

    @TempDir Path work;

    /** target/resilient-checkpoint-storage-<version>.jar, built by the package phase. */
    static Path distJar() throws IOException {
        try (Stream<Path> files = Files.list(Paths.get("target"))) {
            return files.filter(
                            p ->
                                    p.getFileName()
                                            .toString()
                                            .matches("resilient-checkpoint-storage-\\d.*\\.jar"))
                    .filter(p -> !p.getFileName().toString().contains("original"))
                    .findFirst()
                    .orElseThrow(
                            () ->
                                    new AssertionError(
                                            "no jar in dist/target/; run the package phase"))
                    .toAbsolutePath();
        }
    }

    @Test
    void everyClassInTheJarIsOursOrRelocatedUnderOurPackage() throws Exception {
        List<String> foreign = new ArrayList<>();
        boolean caffeine = false;
        boolean sdk = false;
        try (JarFile jar = new JarFile(distJar().toFile())) {
            for (JarEntry e : jar.stream().toList()) {
                String name = e.getName();
                if (!name.endsWith(".class")) {
                    continue;
                }
                if (!name.startsWith(OURS)) {
                    foreign.add(name);
                }
                caffeine |= name.startsWith(OURS + "shaded/com/github/benmanes/caffeine/cache/");
                sdk |= name.startsWith(OURS + "s3/shaded/software/amazon/awssdk/services/s3/");
            }
            assertThat(foreign).as("unrelocated third-party classes").isEmpty();
            assertThat(caffeine).as("Caffeine relocated inside").isTrue();
            assertThat(sdk).as("AWS SDK relocated inside").isTrue();
            assertThat(jar.getEntry(OURS + "storage/ResilientCheckpointStorageFactory.class"))
                    .isNotNull();
            assertThat(jar.getEntry(OURS + "hdfs/HdfsStore.class")).isNotNull();
            assertThat(jar.getEntry("org/apache/hadoop/fs/FileSystem.class"))
                    .as("Hadoop comes from the cluster")
                    .isNull();

            String providers =
                    new String(
                            jar.getInputStream(
                                            jar.getEntry(
                                                    "META-INF/services/io.github.resilientcheckpoints.store.CheckpointStoreProvider"))
                                    .readAllBytes(),
                            StandardCharsets.UTF_8);
            assertThat(providers)
                    .contains("io.github.resilientcheckpoints.s3.S3StoreProvider")
                    .contains("io.github.resilientcheckpoints.hdfs.HdfsStoreProvider");
            // The SDK finds its HTTP client through a service file, which must name the relocated
            // class.
            String http =
                    new String(
                            jar.getInputStream(
                                            jar.getEntry(
                                                    "META-INF/services/"
                                                            + "io.github.resilientcheckpoints.s3.shaded.software.amazon.awssdk.http.SdkHttpService"))
                                    .readAllBytes(),
                            StandardCharsets.UTF_8);
            assertThat(http)
                    .contains(
                            "io.github.resilientcheckpoints.s3.shaded.software.amazon.awssdk.http");
        }
    }

    @Test
    void aFlinkJobWithOnlyThisJarCheckpointsToS3AndRestoresExactly() throws Exception {
        Path jar = distJar();
        List<String> classpath = new ArrayList<>();
        classpath.add(jar.toString());
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            String path = entry.replace('\\', '/');
            boolean ourModule =
                    path.matches(".*/(core|s3-storage|hdfs-storage|demo)/target/(test-)?classes/?")
                            || path.matches(
                                            ".*/resilient-checkpoint-storage-(core|s3|hdfs|demo)-[^/]*\\.jar")
                                    && !path.endsWith("-tests.jar");
            if (ourModule
                    || path.contains("/com/github/ben-manes/")
                    || path.contains("/software/amazon/")) {
                continue;
            }
            classpath.add(entry);
        }
        Path spill = Files.createDirectories(work.resolve("spill"));
        Path plugins = Paths.get("target", "flink-plugins").toAbsolutePath();
        try (EmbeddedS3 s3 = new EmbeddedS3(0)) {
            s3.createBucket("dist");
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
                                    // Flink's temporary files, inside the test's directory.
                                    "-Djava.io.tmpdir="
                                            + Files.createDirectories(work.resolve("tmp")),
                                    "--add-opens=java.base/java.lang=ALL-UNNAMED",
                                    "--add-opens=java.base/java.util=ALL-UNNAMED",
                                    "--add-opens=java.base/java.io=ALL-UNNAMED",
                                    "--add-opens=java.base/java.nio=ALL-UNNAMED",
                                    "-cp",
                                    String.join(File.pathSeparator, classpath),
                                    DistJarJob.class.getName(),
                                    "s3://dist/checkpoints",
                                    spill.toString()));
            s3.flinkConfig().toMap().forEach((key, value) -> command.add(key + "=" + value));
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
            builder.environment().put("FLINK_PLUGINS_DIR", plugins.toString());
            Process child = builder.start();
            String output =
                    new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(child.waitFor(300, TimeUnit.SECONDS)).isTrue();
            assertThat(child.exitValue()).as(output).isZero();
            String jarUrl = "file:" + jar;
            assertThat(output)
                    .contains("store: io.github.resilientcheckpoints.s3.S3Store from " + jarUrl)
                    .contains("factory from " + jarUrl)
                    .contains("DIST-OK");
        }
    }
}
