package io.github.resilientcheckpoints.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The spill files below a directory (a spill space's own lock marker is not one). */
public final class SpillFiles {

    private SpillFiles() {}

    /** Tests poll this while the spill deletes its files, so a file gone meanwhile is skipped. */
    public static List<Path> under(Path dir) throws IOException {
        return LiveTree.files(dir, f -> f.getFileName().toString().endsWith(".spill"));
    }

    /**
     * The spill files still below {@code dir} after waiting up to 10 s for none: after a cancel, a
     * stream the cancel closed may delete its spill file after the job has ended.
     */
    public static List<Path> awaitNone(Path dir) throws IOException, InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        List<Path> left = under(dir);
        while (!left.isEmpty() && System.nanoTime() < end) {
            Thread.sleep(20);
            left = under(dir);
        }
        return left;
    }
}
