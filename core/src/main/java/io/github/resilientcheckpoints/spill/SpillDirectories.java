package io.github.resilientcheckpoints.spill;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Where spill files go: a sub-directory {@value #SUBDIR} of each configured directory, chosen
 * round-robin per new file. Names carry the process id so that a later stale-file sweep can tell a
 * live process's files from a crashed one's.
 */
public final class SpillDirectories {

    public static final String SUBDIR = "resilient-checkpoint-spill";

    private static final long PID = ProcessHandle.current().pid();

    private final List<Path> directories;
    private final AtomicInteger next = new AtomicInteger();

    private SpillDirectories(List<Path> directories) {
        this.directories = List.copyOf(directories);
    }

    /**
     * Creates (if needed) and checks the spill sub-directory of every directory.
     *
     * @throws IOException naming the directory and the problem when one is unusable
     */
    public static SpillDirectories prepare(List<Path> configured) throws IOException {
        if (configured.isEmpty()) {
            throw new IOException("no spill directory configured");
        }
        List<Path> dirs = new java.util.ArrayList<>();
        for (Path dir : configured) {
            dirs.add(prepareOne(dir));
        }
        return new SpillDirectories(dirs);
    }

    private static Path prepareOne(Path dir) throws IOException {
        Path sub = dir.toAbsolutePath().normalize().resolve(SUBDIR);
        try {
            Files.createDirectories(sub);
        } catch (IOException e) {
            throw new IOException("spill directory '" + dir + "' does not exist and cannot be created ("
                    + e.getClass().getSimpleName() + ": " + e.getMessage() + ")", e);
        }
        if (!Files.isDirectory(sub) || !Files.isWritable(sub)) {
            throw new IOException("spill directory '" + sub + "' is not a writable directory");
        }
        return sub;
    }

    public List<Path> directories() {
        return directories;
    }

    /** Creates a new, empty spill file in the next directory. */
    public Path newSpillFile() throws IOException {
        int start = Math.floorMod(next.getAndIncrement(), directories.size());
        IOException failure = null;
        // A directory that fails (removed, full) is skipped for this file; the others are tried.
        for (int i = 0; i < directories.size(); i++) {
            Path dir = directories.get((start + i) % directories.size());
            try {
                return Files.createFile(dir.resolve("rcs-" + PID + "-" + UUID.randomUUID() + ".spill"));
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        throw new IOException("could not create a spill file in any of " + directories, failure);
    }
}
