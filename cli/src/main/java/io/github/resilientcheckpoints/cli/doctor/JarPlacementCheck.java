package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.storage.InstallLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code jar-location}: where the storage classes are loaded from (FAIL inside {@code plugins/}),
 * and the jar to install ({@link InstallLayout#JAR}) in the distribution's {@code lib/}, none of
 * ours in its {@code plugins/}.
 */
final class JarPlacementCheck implements PreflightCheck {

    private final Path lib;
    private final Path plugins;
    private final Path jar;

    /**
     * @param lib the distribution's {@code lib/}, or null when no distribution is known
     * @param plugins the distribution's plugins directory, or null
     * @param jar where this code runs from (a jar or a classes directory)
     */
    JarPlacementCheck(Path lib, Path plugins, Path jar) {
        this.lib = lib;
        this.plugins = plugins;
        this.jar = jar;
    }

    @Override
    public List<Finding> run() {
        List<Finding> findings = new ArrayList<>();
        String self = "running from " + jar;
        if (InstallLayout.isInsidePlugins(jar)) {
            findings.add(
                    Finding.fail(
                            "jar-location",
                            self + ", inside plugins/, where " + InstallLayout.WHY_NOT_PLUGINS,
                            "move " + InstallLayout.JAR + " to lib/"));
            return findings;
        }
        if (lib == null) {
            findings.add(
                    Finding.warn(
                            "jar-location",
                            self + "; no Flink distribution to inspect",
                            "set FLINK_HOME or pass the conf dir of the distribution (its sibling lib/ is checked)"));
            return findings;
        }
        List<Path> inPlugins = plugins == null ? List.of() : ourJars(plugins, true);
        if (!inPlugins.isEmpty()) {
            findings.add(
                    Finding.fail(
                            "jar-location",
                            "found "
                                    + inPlugins
                                    + ": a checkpoint storage in plugins/ is never loaded ("
                                    + InstallLayout.WHY_NOT_PLUGINS
                                    + ")",
                            "move it to " + lib));
        }
        List<Path> inLib = ourJars(lib, false);
        if (inLib.isEmpty()) {
            findings.add(
                    Finding.warn(
                            "jar-location",
                            "no resilient-checkpoint-storage jar in " + lib + " (" + self + ")",
                            "copy "
                                    + InstallLayout.BUILT_JAR
                                    + " into "
                                    + lib
                                    + ", unless every job jar bundles it"));
        } else if (inLib.stream()
                .anyMatch(p -> InstallLayout.isInstallJar(p.getFileName().toString()))) {
            findings.add(Finding.ok("jar-location", "found " + names(inLib) + " in " + lib));
        } else {
            // a module's jar (core, s3, hdfs, cli) lacks the relocated Caffeine and the adapters
            findings.add(
                    Finding.warn(
                            "jar-location",
                            "found "
                                    + names(inLib)
                                    + " in "
                                    + lib
                                    + ", but not the jar to install, "
                                    + InstallLayout.JAR
                                    + " (the storage with its dependencies and the S3 and HDFS adapters inside)",
                            "replace it with " + InstallLayout.BUILT_JAR));
        }
        return findings;
    }

    private static List<Path> ourJars(Path dir, boolean recursive) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = recursive ? Files.walk(dir) : Files.list(dir)) {
            return files.filter(p -> InstallLayout.isOurJar(p.getFileName().toString()))
                    .sorted()
                    .toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static List<String> names(List<Path> paths) {
        return paths.stream().map(p -> p.getFileName().toString()).toList();
    }
}
