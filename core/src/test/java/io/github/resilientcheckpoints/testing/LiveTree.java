package io.github.resilientcheckpoints.testing;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
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
        if (!Files.exists(root)) {
            return found;
        }
        Files.walkFileTree(
                root,
                new SimpleFileVisitor<>() {
                    @Override
                    public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                        if (attrs.isRegularFile() && which.test(file)) {
                            found.add(file);
                        }
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
                        return e == null ? FileVisitResult.CONTINUE : skipIfGone(e);
                    }
                });
        return found;
    }

    private static FileVisitResult skipIfGone(IOException e) throws IOException {
        if (e instanceof NoSuchFileException) {
            return FileVisitResult.CONTINUE;
        }
        throw e;
    }
}
