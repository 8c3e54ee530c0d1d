package io.github.resilientcheckpoints.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** The spill files below a directory (a spill space's own lock marker is not one). */
public final class SpillFiles {

    private SpillFiles() {}

    /** Tests poll this while the spill deletes its files, so a file gone meanwhile is skipped. */
    public static List<Path> under(Path dir) throws IOException {
        return LiveTree.files(dir, f -> f.getFileName().toString().endsWith(".spill"));
    }
}
