package io.github.resilientcheckpoints.spill;

import io.github.resilientcheckpoints.time.Ticker;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import javax.annotation.Nullable;
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
 * <p><b>Ownership on disk.</b> Several TaskManagers may share a spill directory: each spill space
 * writes into its own locked sub-directory ({@link SpillOwner}), and {@link #deleteStaleFiles}
 * deletes those whose lock nobody holds.
 */
@ThreadSafe
public final class SpillSpace implements Closeable {

    private static final Logger LOG = LoggerFactory.getLogger(SpillSpace.class);

    public static final String SUBDIR = "resilient-checkpoint-spill";

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
                Path sub = SpillDirectories.prepare(dir);
                dirs.add(new Directory(sub, SpillOwner.claim(sub)));
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
        return reserve(bytes, spillDirectory -> null);
    }

    /**
     * Reserves {@code bytes} in the directory with the most room; the file goes where {@code
     * placement} says, or is created as a spill file in that directory.
     *
     * @return empty when no directory has room for {@code bytes} above its floor, or the quota is
     *     reached; {@link #describe()} then says why
     */
    public Optional<Reservation> reserve(long bytes, Placement placement) throws IOException {
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
            Path elsewhere = placement.fileFor(chosen.owner.dir);
            reservation.file =
                    elsewhere != null
                            ? elsewhere
                            : Files.createFile(
                                    chosen.owner.dir.resolve("rcs-" + UUID.randomUUID() + ".spill"),
                                    chosen.owner.fileAttributes);
        } catch (IOException | RuntimeException e) {
            reservation.release(0);
            throw new IOException("could not create a spill file in '" + chosen.owner.dir + "'", e);
        }
        return Optional.of(reservation);
    }

    /** Where a reservation's file goes, given the spill directory chosen for its bytes. */
    @FunctionalInterface
    public interface Placement {
        /**
         * A file on the same file system as {@code spillDirectory}, which the caller creates (it
         * counts against that directory's room), or null for a new spill file in it.
         */
        @Nullable
        Path fileFor(Path spillDirectory) throws IOException;
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
            deleted += SpillOwner.deleteStale(d.path);
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
            d.owner.deleteFiles();
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

    /** Bookkeeping of one directory; guarded by the SpillSpace lock. */
    private final class Directory {
        final Path path;
        final SpillOwner owner;

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

        Directory(Path path, SpillOwner owner) {
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
