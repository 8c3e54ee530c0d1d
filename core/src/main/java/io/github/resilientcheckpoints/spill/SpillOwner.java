package io.github.resilientcheckpoints.spill;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributeView;
import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A spill space's own sub-directory of one spill directory, held by an exclusive lock on a marker
 * file for as long as the space is open; and the sweep that deletes sub-directories whose lock
 * nobody holds. The operating system drops a lock when its process dies, however it dies, so no
 * process id is needed (they collide across PID namespaces and repeat across restarts). Locks need
 * a local file system (not NFS without lockd).
 */
final class SpillOwner {

    private static final Logger LOG = LoggerFactory.getLogger(SpillOwner.class);

    /** Every owner sub-directory's name starts with this. */
    static final String OWNER_PREFIX = "owner-";

    /** The locked marker file in each owner sub-directory. */
    static final String MARKER = "owner.lock";

    /** An owner sub-directory is built under this suffix and renamed once its marker is locked. */
    static final String STARTING_SUFFIX = ".starting";

    /**
     * A sub-directory still {@code .starting} after this long belongs to a process that died
     * starting.
     */
    static final Duration STARTING_GRACE = Duration.ofHours(1);

    static final String JVM_TOKEN_PROPERTY = "io.github.resilientcheckpoints.spill.jvm-token";

    /**
     * Random per process. Sub-directories of this process are never probed by the sweep: with POSIX
     * locks, closing any channel of a file drops every lock this process holds on it, so probing
     * our own marker would silently release it.
     */
    static final String PROCESS = jvmToken();

    /**
     * One token for the whole JVM, shared by every copy of this class: a storage jar bundled in job
     * jars is loaded once per job (child-first class loading), and each copy sweeps. With a token
     * per copy, one copy would open and close another's marker, and closing any channel of a file
     * drops every POSIX lock this process holds on it: another process could then delete live spill
     * files. A string in the system properties is the one place all copies see.
     */
    private static String jvmToken() {
        String fresh = UUID.randomUUID().toString();
        Object shared = System.getProperties().putIfAbsent(JVM_TOKEN_PROPERTY, fresh);
        return shared instanceof String ? (String) shared : fresh;
    }

    final Path dir;

    /** For each spill file; decided once (a file-store lookup reads /proc/mounts). */
    final FileAttribute<?>[] fileAttributes;

    private final FileChannel channel;
    private final FileLock lock;

    private SpillOwner(Path dir, FileChannel channel, FileLock lock) throws IOException {
        this.dir = dir;
        this.channel = channel;
        this.lock = lock;
        this.fileAttributes = SpillDirectories.ownerOnly(dir);
    }

    /**
     * Creates and locks a new owner directory in {@code sub}. It is built under a {@code .starting}
     * name and renamed once locked, so a sweep never sees it unlocked.
     */
    static SpillOwner claim(Path sub) throws IOException {
        String name = OWNER_PREFIX + PROCESS + "-" + UUID.randomUUID().toString().substring(0, 8);
        Path starting = sub.resolve(name + STARTING_SUFFIX);
        Path dir = sub.resolve(name);
        FileChannel channel = null;
        try {
            Files.createDirectory(starting);
            if (Files.getFileStore(starting)
                    .supportsFileAttributeView(PosixFileAttributeView.class)) {
                Files.setPosixFilePermissions(starting, SpillDirectories.OWNER_ONLY_DIRECTORY);
            }
            channel =
                    FileChannel.open(
                            starting.resolve(MARKER),
                            StandardOpenOption.CREATE_NEW,
                            StandardOpenOption.WRITE);
            FileLock lock = channel.tryLock();
            if (lock == null) {
                throw new IOException("lock of a new file taken by someone else");
            }
            Files.move(starting, dir, StandardCopyOption.ATOMIC_MOVE);
            return new SpillOwner(dir, channel, lock);
        } catch (IOException | RuntimeException e) {
            if (channel != null) {
                channel.close();
            }
            throw new IOException(
                    "could not create and lock a spill directory of this process in '"
                            + sub
                            + "' ("
                            + e.getClass().getSimpleName()
                            + ": "
                            + e.getMessage()
                            + ")",
                    e);
        }
    }

    /** Deletes the spill files left in this directory (the space is closing). */
    void deleteFiles() {
        deleteContents(dir);
    }

    /** Deletes the marker and the (now empty) directory, then drops the lock. */
    void release() {
        try {
            Files.deleteIfExists(dir.resolve(MARKER));
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            LOG.warn("Could not delete spill directory {}: {}", dir, e.toString());
        }
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            LOG.debug("Could not release the lock of {}", dir, e);
        }
    }

    /**
     * Deletes what dead processes left in the spill sub-directory {@code sub}: every owner
     * sub-directory (but this process's) whose marker lock can be taken.
     *
     * @return number of spill files deleted
     */
    static int deleteStale(Path sub) {
        int deleted = 0;
        try (DirectoryStream<Path> owners = Files.newDirectoryStream(sub, OWNER_PREFIX + "*")) {
            for (Path owned : owners) {
                String name = owned.getFileName().toString();
                // Never through a symbolic link: a planted owner-x -> /some/dir must not get
                // /some/dir emptied.
                if (name.startsWith(OWNER_PREFIX + PROCESS)
                        || !Files.isDirectory(owned, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                if (name.endsWith(STARTING_SUFFIX) && !olderThan(owned, STARTING_GRACE)) {
                    continue; // another process is just starting
                }
                deleted += deleteIfOwnerGone(owned);
            }
        } catch (IOException e) {
            LOG.warn("Could not scan spill directory {} for stale files: {}", sub, e.toString());
        }
        return deleted;
    }

    private static boolean olderThan(Path path, Duration age) throws IOException {
        return Files.getLastModifiedTime(path).toInstant().isBefore(Instant.now().minus(age));
    }

    /** Deletes {@code owned} if nobody holds its marker lock; returns the spill files deleted. */
    private static int deleteIfOwnerGone(Path owned) {
        Path marker = owned.resolve(MARKER);
        try (FileChannel channel = FileChannel.open(marker, StandardOpenOption.WRITE)) {
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                return 0; // held in this JVM
            }
            if (lock == null) {
                return 0; // held by a live process
            }
            // Holding the lock: nobody else deletes or claims this directory meanwhile.
            int deleted = deleteContents(owned);
            Files.deleteIfExists(marker);
            lock.release();
            Files.deleteIfExists(owned);
            return deleted;
        } catch (NoSuchFileException e) {
            // No marker: its owner died before locking one, or another sweep is deleting it.
            int deleted = deleteContents(owned);
            try {
                Files.deleteIfExists(owned);
            } catch (IOException ignored) {
                // another sweep got there first, or it is not empty yet; the next sweep retries
            }
            return deleted;
        } catch (IOException e) {
            LOG.warn("Could not check or delete stale spill directory {}: {}", owned, e.toString());
            return 0;
        }
    }

    /** Deletes the files in {@code dir} except its marker; returns how many were spill files. */
    private static int deleteContents(Path dir) {
        int deleted = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                if (file.getFileName().toString().equals(MARKER)
                        || Files.isDirectory(file, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                try {
                    // A link itself is deleted, never what it points to.
                    long size = Files.isSymbolicLink(file) ? 0 : Files.size(file);
                    if (Files.deleteIfExists(file)
                            && file.getFileName().toString().endsWith(".spill")) {
                        deleted++;
                        LOG.info(
                                "Deleted stale spill file {} ({} bytes) of a process that is gone.",
                                file,
                                size);
                    }
                } catch (IOException e) {
                    LOG.warn("Could not delete stale spill file {}: {}", file, e.toString());
                }
            }
        } catch (IOException e) {
            LOG.warn("Could not list stale spill directory {}: {}", dir, e.toString());
        }
        return deleted;
    }
}
