package io.github.resilientcheckpoints.cli.doctor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code jar-location}: where the storage classes are loaded from (FAIL inside {@code plugins/}),
 * and the storage jar in the distribution's {@code lib/}, not in its {@code plugins/}.
 */
final class JarPlacementCheck implements PreflightCheck {

    private final Path distribution;
    private final Path jar;

    /**
     * @param distribution the Flink distribution whose {@code lib/} and {@code plugins/} to
     *     inspect, or null
     * @param jar where this code runs from (a jar or a classes directory)
     */
    JarPlacementCheck(Path distribution, Path jar) {
        this.distribution = distribution;
        this.jar = jar;
    }

    @Override
    public List<Finding> run() {
        List<Finding> findings = new ArrayList<>();
        String self = "running from " + jar;
        if (isUnderPlugins(jar)) {
            findings.add(
                    Finding.fail(
                            "jar-location",
                            self
                                    + ", inside plugins/: Flink never loads a checkpoint"
                                    + " storage factory from a plugin class loader",
                            "move the storage jar (and caffeine) to lib/"));
            return findings;
        }
        if (distribution == null) {
            findings.add(
                    Finding.warn(
                            "jar-location",
                            self + "; no Flink distribution to inspect",
                            "set FLINK_HOME or pass the conf dir of the distribution (its sibling lib/ is checked)"));
            return findings;
        }
        Path lib = distribution.resolve("lib");
        Path plugins = distribution.resolve("plugins");
        List<Path> inLib = jars(lib, false);
        List<Path> inPlugins = jars(plugins, true);
        if (!inPlugins.isEmpty()) {
            findings.add(
                    Finding.fail(
                            "jar-location",
                            "found "
                                    + inPlugins
                                    + ": a checkpoint storage in plugins/ is"
                                    + " never loaded (Flink loads the factory with the user-code class loader)",
                            "move it to " + lib));
        }
        if (inLib.isEmpty()) {
            findings.add(
                    Finding.warn(
                            "jar-location",
                            "no resilient-checkpoint-storage jar in " + lib + " (" + self + ")",
                            "copy core/target/resilient-checkpoint-storage-core-<version>.jar and caffeine into "
                                    + lib
                                    + ", unless every job jar bundles them"));
        } else if (hasCaffeine(lib)) {
            findings.add(Finding.ok("jar-location", "found " + names(inLib) + " in " + lib));
        } else {
            findings.add(
                    Finding.fail(
                            "jar-location",
                            "found " + names(inLib) + " in " + lib + " but no caffeine jar",
                            "copy com.github.ben-manes.caffeine:caffeine into " + lib));
        }
        return findings;
    }

    private static boolean isUnderPlugins(Path path) {
        for (Path p = path; p != null; p = p.getParent()) {
            if (p.getFileName() != null && p.getFileName().toString().equals("plugins")) {
                return true;
            }
        }
        return false;
    }

    private static List<Path> jars(Path dir, boolean recursive) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = recursive ? Files.walk(dir) : Files.list(dir)) {
            return files.filter(
                            p ->
                                    p.getFileName()
                                                    .toString()
                                                    .startsWith("resilient-checkpoint-storage")
                                            && p.getFileName().toString().endsWith(".jar"))
                    .sorted()
                    .toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static boolean hasCaffeine(Path lib) {
        try (Stream<Path> files = Files.list(lib)) {
            return files.anyMatch(p -> p.getFileName().toString().startsWith("caffeine"));
        } catch (IOException e) {
            return false;
        }
    }

    private static List<String> names(List<Path> paths) {
        return paths.stream().map(p -> p.getFileName().toString()).toList();
    }
}
