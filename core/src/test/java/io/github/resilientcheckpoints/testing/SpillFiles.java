package io.github.resilientcheckpoints.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** The spill files below a directory (a spill space's own lock marker is not one). */
public final class SpillFiles {

    private SpillFiles() {}

    public static List<Path> under(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(f -> f.getFileName().toString().endsWith(".spill")).toList();
        }
    }
}
