package io.github.resilientcheckpoints.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the shaded jar as operators do ({@code java -jar resilient-checkpoint-storage-cli.jar ...}),
 * isolated from the machine and from other tests: its working directory and {@code java.io.tmpdir}
 * are the calling test's own directory, and the environment has none of the variables the commands
 * read ({@code FLINK_CONF_DIR}, {@code FLINK_HOME}, {@code FLINK_PLUGINS_DIR}, Hadoop's) nor JVM
 * options from the environment. A run that does not end in time is killed and fails with what it
 * printed.
 */
final class CliJar {

    private static final long TIMEOUT_SECONDS = 120;

    record Run(int exit, String output) {}

    private CliJar() {}

    /**
     * @param work a directory of the calling test's own, outside of what the command works on
     */
    static Run run(Path work, String... args) throws Exception {
        Path jar = Paths.get("target", "resilient-checkpoint-storage-cli.jar").toAbsolutePath();
        assertThat(jar).exists();
        Path tmp = Files.createDirectories(work.resolve("java-tmp"));
        Path output = Files.createTempFile(work, "output-", ".txt");
        List<String> command =
                new ArrayList<>(
                        List.of(
                                Paths.get(System.getProperty("java.home"), "bin", "java")
                                        .toString(),
                                "-Djava.io.tmpdir=" + tmp,
                                "-jar",
                                jar.toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder =
                new ProcessBuilder(command)
                        .directory(work.toFile())
                        .redirectErrorStream(true)
                        .redirectOutput(output.toFile());
        Map<String, String> env = builder.environment();
        env.keySet()
                .removeIf(
                        k ->
                                k.startsWith("FLINK_")
                                        || k.startsWith("HADOOP_")
                                        || k.equals("JAVA_TOOL_OPTIONS")
                                        || k.equals("_JAVA_OPTIONS")
                                        || k.equals("JDK_JAVA_OPTIONS"));
        env.put("AWS_EC2_METADATA_DISABLED", "true");
        Process p = builder.start();
        if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            throw new AssertionError(
                    "killed after "
                            + TIMEOUT_SECONDS
                            + " s: "
                            + String.join(" ", command)
                            + "\n"
                            + read(output));
        }
        return new Run(p.exitValue(), read(output));
    }

    private static String read(Path output) throws Exception {
        return new String(Files.readAllBytes(output), StandardCharsets.UTF_8);
    }
}
