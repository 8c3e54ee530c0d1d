package io.github.resilientcheckpoints.spill;

import io.github.resilientcheckpoints.time.Ticker;
import java.io.Closeable;
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
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import javax.annotation.concurrent.GuardedBy;
import javax.annotation.concurrent.ThreadSafe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local disk budget of one TaskManager's spill files: which directory a new spill file goes to,
 * and how many bytes streams may still write there.
 *
 * <p><b>Reservations.</b> A stream reserves a chunk before it writes into it and grows its
 * reservation chunk by chunk. Free space is probed at most once per probe interval (never per
 * write); between probes, every byte reserved but not yet written and every byte written since the
 * last probe is subtracted from what the probe saw, so concurrent streams cannot over-commit a disk
 * between two probes. All bookkeeping happens under one lock, taken once per chunk.
 *
 * <p><b>Choice.</b> A new spill file goes to the directory with the most room after floor and
 * reservations (spreading load to the emptiest disk rather than round-robin onto a nearly full
 * one); a file never moves, so later chunks must fit in the same directory.
 *
 * <p><b>Limits.</b> Our writes never take a file system below its floor, and live reservations of
 * this TaskManager never exceed the quota. When nothing fits, {@link #reserve} returns empty and
 * the stream applies the fallback policy, within the {@link #memoryBudget()}.
 *
 * <p><b>Ownership on disk.</b> Several TaskManagers (containers sharing a host directory, or
 * processes on one machine) may use the same spill directory. Each spill space writes into its own
 * sub-directory with a random name, and holds an exclusive lock on a marker file there for as long
 * as it is open. The operating system drops the lock when the process dies, however it dies; a
 * sub-directory whose marker lock can be taken therefore belongs to nobody alive, and {@link
 * #deleteStaleFiles} deletes it. Process ids are never used: they collide across PID namespaces (a
 * live neighbour's files would be deleted) and repeat across restarts (a restarted PID 1 would
 * never clean up after its predecessor). Locks need a local file system (not NFS without lockd).
 */
@ThreadSafe
public final class SpillSpace implements Closeable {

    private static final Logger LOG = LoggerFactory.getLogger(SpillSpace.class);

    public static final String SUBDIR = "resilient-checkpoint-spill";

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

    static final String JVM_TOKEN_PROPERTY = "io.github.resilientcheckpoints.spill.jvm-token";

    private final List<Directory> directories;
    private final FreeSpaceProbe probe;
    private final Ticker ticker;
    private final SpillLimits limits;
    private final MemoryBudget memoryBudget;
    private long liveReservedBytes;
    private boolean closed;

    /**
     * Creates the spill sub-directory of each configured directory if needed, and this space's own
     * locked sub-directory inside it.
     *
     * @throws IOException naming the directory that cannot be used
     */
    public SpillSpace(
            List<Path> configured, SpillLimits limits, FreeSpaceProbe probe, Ticker ticker)
            throws IOException {
        if (configured.isEmpty()) {
            throw new IOException("no spill directory configured");
        }
        List<Directory> dirs = new ArrayList<>();
        try {
            for (Path dir : configured) {
                Path sub = prepare(dir);
                dirs.add(new Directory(sub, Owner.claim(sub)));
            }
        } catch (IOException | RuntimeException e) {
            for (Directory d : dirs) {
                d.owner.release();
            }
            throw e;
        }
        this.directories = List.copyOf(dirs);
        this.probe = probe;
        this.ticker = ticker;
        this.limits = limits;
        this.memoryBudget = new MemoryBudget(limits.memoryBudgetBytes());
    }

    /**
     * Creates the spill sub-directory under {@code dir} if needed and checks it is writable.
     *
     * @throws IOException naming the directory and the problem
     */
    public static Path prepare(Path dir) throws IOException {
        Path sub = dir.toAbsolutePath().normalize().resolve(SUBDIR);
        try {
            Files.createDirectories(sub);
        } catch (IOException e) {
            throw new IOException(
                    "spill directory '"
                            + dir
                            + "' does not exist and cannot be created ("
                            + e.getClass().getSimpleName()
                            + ": "
                            + e.getMessage()
                            + ")",
                    e);
        }
        if (Files.isSymbolicLink(sub)
                || !Files.isDirectory(sub, LinkOption.NOFOLLOW_LINKS)
                || !Files.isWritable(sub)) {
            throw new IOException(
                    "spill directory '"
                            + sub
                            + "' is not a writable directory (a symbolic link is not accepted)");
        }
        ownedByThisUser(sub);
        return sub;
    }

    /**
     * The spill sub-directory has a fixed, predictable name (under {@code /tmp} by default), and
     * the stale-file sweep deletes what it finds in it: it must belong to this process's user and
     * let nobody else in (mode 0700), or another local user could plant files or links there, or
     * read the state in spill files.
     */
    private static void ownedByThisUser(Path sub) throws IOException {
        if (!Files.getFileStore(sub).supportsFileAttributeView(PosixFileAttributeView.class)) {
            return;
        }
        UserPrincipal owner = Files.getOwner(sub, LinkOption.NOFOLLOW_LINKS);
        UserPrincipal me = currentUser(sub);
        if (!owner.equals(me)) {
            throw new IOException(
                    "spill directory '"
                            + sub
                            + "' belongs to user '"
                            + owner.getName()
                            + "', not to '"
                            + me.getName()
                            + "' who runs this TaskManager: another user may have created it to"
                            + " read or plant spill files. Remove it, or configure a directory of"
                            + " this user");
        }
        Set<PosixFilePermission> mode =
                Files.getPosixFilePermissions(sub, LinkOption.NOFOLLOW_LINKS);
        if (!mode.equals(OWNER_ONLY_DIRECTORY)) {
            Files.setPosixFilePermissions(sub, OWNER_ONLY_DIRECTORY);
        }
    }

    /** The user this process writes files as: the owner of a file it just created. */
    private static UserPrincipal currentUser(Path dir) throws IOException {
        Path probe = Files.createTempFile(dir, ".owner-check-", ".tmp", OWNER_ONLY_FILE_ATTRIBUTE);
        try {
            return Files.getOwner(probe, LinkOption.NOFOLLOW_LINKS);
        } finally {
            Files.deleteIfExists(probe);
        }
    }

    private static final Set<PosixFilePermission> OWNER_ONLY_DIRECTORY =
            PosixFilePermissions.fromString("rwx------");

    private static final FileAttribute<Set<PosixFilePermission>> OWNER_ONLY_FILE_ATTRIBUTE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));

    /** Spill files hold the job's state: readable by this user only, where the disk can say so. */
    private static FileAttribute<?>[] ownerOnly(Path dir) throws IOException {
        return Files.getFileStore(dir).supportsFileAttributeView(PosixFileAttributeView.class)
                ? new FileAttribute<?>[] {OWNER_ONLY_FILE_ATTRIBUTE}
                : new FileAttribute<?>[0];
    }

    public SpillLimits limits() {
        return limits;
    }

    public MemoryBudget memoryBudget() {
        return memoryBudget;
    }

    /**
     * The spill sub-directories, in configuration order (each holds this space's own locked
     * directory, where its files go, and those of other processes).
     */
    public List<Path> directories() {
        List<Path> paths = new ArrayList<>();
        for (Directory d : directories) {
            paths.add(d.path);
        }
        return paths;
    }

    /**
     * Reserves {@code bytes} in the directory with the most room and creates the spill file there.
     *
     * @return empty when no directory has room for {@code bytes} above its floor, or the quota is
     *     reached; {@link #describe()} then says why
     */
    public Optional<Reservation> reserve(long bytes) throws IOException {
        Directory chosen;
        synchronized (this) {
            if (liveReservedBytes + bytes > limits.quotaBytes()) {
                return Optional.empty();
            }
            chosen = null;
            long best = Long.MIN_VALUE;
            for (Directory d : directories) {
                long room = d.room();
                if (room >= bytes && room > best) {
                    best = room;
                    chosen = d;
                }
            }
            if (chosen == null) {
                return Optional.empty();
            }
            chosen.unwritten += bytes;
            liveReservedBytes += bytes;
        }
        Reservation reservation = new Reservation(chosen, bytes);
        try {
            reservation.file =
                    Files.createFile(
                            chosen.owner.dir.resolve("rcs-" + UUID.randomUUID() + ".spill"),
                            chosen.owner.fileAttributes);
        } catch (IOException e) {
            reservation.release(0);
            throw new IOException("could not create a spill file in '" + chosen.owner.dir + "'", e);
        }
        return Optional.of(reservation);
    }

    /** Bytes reserved by live spill files of this TaskManager (written or not yet). */
    public synchronized long reservedBytes() {
        return liveReservedBytes;
    }

    /** Free space of a directory's file system as last probed (refreshing it if stale). */
    public synchronized long freeBytes(Path directory) {
        for (Directory d : directories) {
            if (d.path.equals(directory)) {
                d.refresh();
                return d.probedUsable;
            }
        }
        throw new IllegalArgumentException("not a spill directory: " + directory);
    }

    /** Every directory with its free space, floor and reservations, for error messages and logs. */
    public synchronized String describe() {
        StringBuilder sb = new StringBuilder();
        for (Directory d : directories) {
            d.refresh();
            if (sb.length() > 0) {
                sb.append("; ");
            }
            sb.append('\'')
                    .append(d.path)
                    .append("' free ")
                    .append(bytes(d.probedUsable))
                    .append(", floor ")
                    .append(bytes(limits.floorFor(d.probedTotal)))
                    .append(", reserved ")
                    .append(bytes(d.unwritten + d.writtenSinceProbe));
        }
        sb.append("; quota ")
                .append(bytes(limits.quotaBytes()))
                .append(", in use ")
                .append(bytes(liveReservedBytes));
        return sb.toString();
    }

    /**
     * Deletes what dead processes left behind: every owner sub-directory (but ours) whose marker
     * lock can be taken. Directories of live processes, whatever their process id, are left alone.
     *
     * @return number of spill files deleted
     */
    public int deleteStaleFiles() {
        int deleted = 0;
        for (Directory d : directories) {
            try (DirectoryStream<Path> owners =
                    Files.newDirectoryStream(d.path, OWNER_PREFIX + "*")) {
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
                LOG.warn(
                        "Could not scan spill directory {} for stale files: {}",
                        d.path,
                        e.toString());
            }
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

    /**
     * Releases this space's locks and deletes its own sub-directories with any spill file still in
     * them (no stream of this space may write any more). Idempotent.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        for (Directory d : directories) {
            deleteContents(d.owner.dir);
            d.owner.release();
        }
    }

    private static String bytes(long n) {
        if (n >= 1L << 30) {
            return String.format("%.1f GiB", n / (double) (1L << 30));
        }
        if (n >= 1L << 20) {
            return String.format("%.1f MiB", n / (double) (1L << 20));
        }
        return n + " bytes";
    }

    /** This space's locked sub-directory of one spill directory. */
    private static final class Owner {
        final Path dir;

        /** For each spill file; decided once (a file-store lookup reads /proc/mounts). */
        final FileAttribute<?>[] fileAttributes;

        private final FileChannel channel;
        private final FileLock lock;

        private Owner(Path dir, FileChannel channel, FileLock lock) throws IOException {
            this.dir = dir;
            this.channel = channel;
            this.lock = lock;
            this.fileAttributes = ownerOnly(dir);
        }

        /**
         * Creates and locks a new owner directory in {@code sub}. It is built under a {@code
         * .starting} name and renamed once locked, so a sweep never sees it unlocked.
         */
        static Owner claim(Path sub) throws IOException {
            String name =
                    OWNER_PREFIX + PROCESS + "-" + UUID.randomUUID().toString().substring(0, 8);
            Path starting = sub.resolve(name + STARTING_SUFFIX);
            Path dir = sub.resolve(name);
            FileChannel channel = null;
            try {
                Files.createDirectory(starting);
                if (Files.getFileStore(starting)
                        .supportsFileAttributeView(PosixFileAttributeView.class)) {
                    Files.setPosixFilePermissions(starting, OWNER_ONLY_DIRECTORY);
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
                return new Owner(dir, channel, lock);
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
    }

    /** Bookkeeping of one directory; guarded by the SpillSpace lock. */
    private final class Directory {
        final Path path;
        final Owner owner;

        @GuardedBy("SpillSpace.this")
        long probedUsable;

        @GuardedBy("SpillSpace.this")
        long probedTotal;

        @GuardedBy("SpillSpace.this")
        long probedAt;

        @GuardedBy("SpillSpace.this")
        boolean probed;

        @GuardedBy("SpillSpace.this")
        long unwritten;

        @GuardedBy("SpillSpace.this")
        long writtenSinceProbe;

        Directory(Path path, Owner owner) {
            this.path = path;
            this.owner = owner;
        }

        void refresh() {
            long now = ticker.nanoTime();
            if (probed && now - probedAt < limits.probeInterval().toNanos()) {
                return;
            }
            // Bytes written before this probe are in its answer; those marked later still count.
            long written = writtenSinceProbe;
            try {
                probedUsable = probe.usableBytes(path);
                probedTotal = probe.totalBytes(path);
            } catch (IOException e) {
                LOG.warn(
                        "Could not probe free space of spill directory {}: {}", path, e.toString());
                probedUsable = 0;
            }
            probedAt = now;
            probed = true;
            writtenSinceProbe -= written;
        }

        long room() {
            refresh();
            return probedUsable - limits.floorFor(probedTotal) - unwritten - writtenSinceProbe;
        }
    }

    /**
     * Bytes a stream may write into its spill file. Not thread safe: used by the stream's writer,
     * with {@link #release} also safe after a concurrent close.
     */
    public final class Reservation {
        private final Directory directory;
        private long reserved;
        private long accounted;
        private boolean released;
        private Path file;

        private Reservation(Directory directory, long reserved) {
            this.directory = directory;
            this.reserved = reserved;
        }

        public Path file() {
            return file;
        }

        /** Bytes the stream may write in total. */
        public long limit() {
            return reserved;
        }

        /**
         * Grows the reservation so that {@code total} bytes fit, in whole chunks, in the same
         * directory.
         *
         * @param written bytes the stream has really written so far
         * @return false when the directory or the quota has no room left
         */
        public boolean growTo(long total, long written) {
            synchronized (SpillSpace.this) {
                if (released) {
                    return false;
                }
                account(written);
                long extra = Math.max(limits.chunkBytes(), total - reserved);
                if (liveReservedBytes + extra > limits.quotaBytes() || directory.room() < extra) {
                    return false;
                }
                directory.unwritten += extra;
                liveReservedBytes += extra;
                reserved += extra;
                return true;
            }
        }

        /**
         * Keeps only the {@code written} bytes reserved: the stream writes no more to this file.
         */
        public void trimTo(long written) {
            synchronized (SpillSpace.this) {
                if (released) {
                    return;
                }
                account(written);
                long unused = reserved - Math.max(written, accounted);
                if (unused > 0) {
                    directory.unwritten -= unused;
                    liveReservedBytes -= unused;
                    reserved -= unused;
                }
            }
        }

        /** Gives back the reservation: {@code written} bytes went to disk, the rest never will. */
        public void release(long written) {
            synchronized (SpillSpace.this) {
                if (released) {
                    return;
                }
                released = true;
                account(Math.min(written, reserved));
                directory.unwritten -= reserved - accounted;
                liveReservedBytes -= reserved;
            }
        }

        private void account(long written) {
            long delta = Math.min(written, reserved) - accounted;
            if (delta > 0) {
                directory.unwritten -= delta;
                directory.writtenSinceProbe += delta;
                accounted += delta;
            }
        }

        @Override
        public String toString() {
            return "Reservation{" + file + ", " + reserved + " bytes}";
        }
    }
}
