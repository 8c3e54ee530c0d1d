package io.github.resilientcheckpoints;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * No main source file of the repository is longer than {@value #MAX_LINES} lines, unless a comment
 * above its {@code package} line says why (it mentions "{@value #MAX_LINES} lines"). A long file
 * usually holds more than one role; split it along its seams instead.
 */
class MainSourceLengthTest {

    private static final int MAX_LINES = 500;

    /**
     * Files over the limit whose owners are splitting them in parallel; remove an entry when its
     * file is short enough (the test fails while a listed file already is, so the list only
     * shrinks).
     */
    private static final Set<String> PENDING = Set.of();

    @Test
    void noMainSourceFileIsLongerThanTheLimitWithoutSayingWhy() throws IOException {
        Path root = ConfigDocsTest.repositoryRoot();
        List<String> tooLong = new ArrayList<>();
        Set<String> pendingTooLong = new TreeSet<>();
        for (Path file : mainSources(root)) {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            if (lines.size() <= MAX_LINES || explainsItsLength(lines)) {
                continue;
            }
            String path = root.relativize(file).toString().replace('\\', '/');
            if (PENDING.contains(path)) {
                pendingTooLong.add(path);
            } else {
                tooLong.add(path + ": " + lines.size() + " lines");
            }
        }
        assertThat(tooLong)
                .as(
                        "main sources over %d lines with no comment above 'package' saying why",
                        MAX_LINES)
                .isEmpty();
        assertThat(pendingTooLong)
                .as("PENDING entries that are short enough now: remove them")
                .isEqualTo(new TreeSet<>(PENDING));
    }

    private static boolean explainsItsLength(List<String> lines) {
        for (String line : lines) {
            if (line.startsWith("package ")) {
                return false;
            }
            if (line.contains(MAX_LINES + " lines")) {
                return true;
            }
        }
        return false;
    }

    /** Every module's {@code src/main/java}, and core's per-Flink-line source directories. */
    private static List<Path> mainSources(Path root) throws IOException {
        List<Path> dirs = new ArrayList<>();
        try (Stream<Path> modules = Files.list(root)) {
            modules.map(m -> m.resolve("src/main/java"))
                    .filter(Files::isDirectory)
                    .forEach(dirs::add);
        }
        dirs.add(root.resolve("core/src/flink1/java"));
        dirs.add(root.resolve("core/src/flink2/java"));
        List<Path> files = new ArrayList<>();
        for (Path dir : dirs) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> walk = Files.walk(dir)) {
                walk.filter(p -> p.toString().endsWith(".java")).sorted().forEach(files::add);
            }
        }
        assertThat(files).as("main sources under %s", root).isNotEmpty();
        return files;
    }
}
