package io.github.resilientcheckpoints.testing;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The regular files below a directory that the code under test may be deleting from meanwhile (a
 * test polling until they are gone). {@code Files.walk} throws when an entry it listed is gone by
 * the time it reads its attributes; here such an entry is simply not there.
 */
public final class LiveTree {

    private LiveTree() {}

    /** The regular files below {@code root} whose path passes {@code which}; none if no root. */
    public static List<Path> files(Path root, Predicate<Path> which) throws IOException {
        List<Path> found = new ArrayList<>();
        walk(
                root,
                (file, attrs) -> {
                    if (attrs.isRegularFile() && which.test(file)) {
                        found.add(file);
                    }
                },
                dir -> {});
        return found;
    }

    /**
     * Waits until no regular file below {@code root} has appeared or gone for {@code quiet} (Flink
     * and the storage delete a cancelled job's subsumed and aborted checkpoints in the background),
     * or when {@code bound} has passed: a mitigation, so the caller still asserts only what holds
     * while files may vanish.
     */
    public static void settled(Path root, Duration quiet, Duration bound)
            throws IOException, InterruptedException {
        long end = System.nanoTime() + bound.toNanos();
        Set<Path> last = new HashSet<>(files(root, p -> true));
        long quietSince = System.nanoTime();
        while (System.nanoTime() - quietSince < quiet.toNanos() && System.nanoTime() < end) {
            Thread.sleep(50);
            Set<Path> now = new HashSet<>(files(root, p -> true));
            if (!now.equals(last)) {
                last = now;
                quietSince = System.nanoTime();
            }
        }
    }

    /** Sets the modification time of every regular file below {@code root} still there. */
    public static void age(Path root, FileTime time) throws IOException {
        for (Path p : files(root, f -> true)) {
            try {
                Files.setLastModifiedTime(p, time);
            } catch (NoSuchFileException gone) {
                // deleted since the walk saw it
            }
        }
    }

    /** Deletes {@code root} and everything below it; what is already gone is skipped. */
    public static void delete(Path root) throws IOException {
        walk(root, (file, attrs) -> Files.deleteIfExists(file), Files::deleteIfExists);
    }

    private interface OnFile {
        void accept(Path file, BasicFileAttributes attrs) throws IOException;
    }

    private interface OnDirectory {
        void accept(Path dir) throws IOException;
    }

    /** Walks {@code root} (links not followed), skipping entries that vanish meanwhile. */
    private static void walk(Path root, OnFile onFile, OnDirectory afterDirectory)
            throws IOException {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Files.walkFileTree(
                root,
                new SimpleFileVisitor<>() {
                    @Override
                    public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
                            throws IOException {
                        onFile.accept(file, attrs);
                        return FileVisitResult.CONTINUE;
                    }

                    @Override
                    public FileVisitResult visitFileFailed(Path file, IOException e)
                            throws IOException {
                        return skipIfGone(e);
                    }

                    @Override
                    public FileVisitResult postVisitDirectory(Path dir, IOException e)
                            throws IOException {
                        if (e != null) {
                            skipIfGone(e);
                        }
                        afterDirectory.accept(dir);
                        return FileVisitResult.CONTINUE;
                    }
                });
    }

    private static FileVisitResult skipIfGone(IOException e) throws IOException {
        if (e instanceof NoSuchFileException) {
            return FileVisitResult.CONTINUE;
        }
        throw e;
    }
}
