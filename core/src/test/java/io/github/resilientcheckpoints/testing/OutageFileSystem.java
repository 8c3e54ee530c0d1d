package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.BlockLocation;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;
import org.apache.flink.core.fs.FileSystemKind;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;

/**
 * {@code outage:///some/path}: the local file system with switches a test flips while a job runs,
 * for the store being down for a while rather than flaky. Registered for tests through {@code
 * META-INF/services/org.apache.flink.core.fs.FileSystemFactory}; like object stores it has no
 * recoverable writer. Reads always work.
 *
 * <ul>
 *   <li>{@link #writesDown}: every write fails at once, as a store that refuses connections would:
 *       creating any file (state files on the TaskManagers, {@code _metadata} and probe files on
 *       the JobManager), {@code mkdirs} of any directory (also one that exists), deletes and
 *       renames.
 *   <li>{@link #metadataDown}: every create of a file named {@code _metadata} fails the same way;
 *       everything else works.
 *   <li>{@link #directoryGate}: while set and closed, {@code mkdirs} of a checkpoint or savepoint
 *       directory ({@code chk-N}, {@code savepoint-*}) waits for it, interruptibly, as a hung store
 *       connection would.
 * </ul>
 *
 * <p>The failures are transient by the storage's classification (no permission, throttling or quota
 * marker in them), so the storage retries them.
 */
public final class OutageFileSystem extends FileSystem {

    public static final String SCHEME = "outage";

    /** While true, every write fails. */
    public static volatile boolean writesDown;

    /** While true, every create of a {@code _metadata} file fails. */
    public static volatile boolean metadataDown;

    /** While set and not yet opened, every mkdirs of {@code chk-N}/{@code savepoint-*} waits. */
    public static volatile CountDownLatch directoryGate;

    /** Writes failed because {@link #writesDown} was set, since the JVM started. */
    public static final AtomicLong WRITE_FAULTS = new AtomicLong();

    /** {@code _metadata} creates failed because {@link #metadataDown} was set. */
    public static final AtomicLong METADATA_FAULTS = new AtomicLong();

    /** Directory creations that waited at {@link #directoryGate}. */
    public static final AtomicLong HELD_DIRECTORIES = new AtomicLong();

    private final LocalFileSystem local = LocalFileSystem.getSharedInstance();

    /** Every switch off; a closed gate is opened first, so that nothing stays held. */
    public static void reset() {
        writesDown = false;
        metadataDown = false;
        CountDownLatch gate = directoryGate;
        directoryGate = null;
        if (gate != null) {
            gate.countDown();
        }
    }

    /**
     * The counting job on the storage, checkpointing to {@code outage://checkpoints} and spilling
     * to {@code spill}, with short retries (30 attempts, 5 to 50 ms apart: a write the store
     * refuses fails its checkpoint within about a second) and failed checkpoints tolerated (a store
     * that is down fails every checkpoint; what the job does then is the test's business).
     */
    public static Configuration jobConfig(
            java.nio.file.Path checkpoints, java.nio.file.Path spill) {
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(),
                        "hashmap",
                        uri(checkpoints));
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 30);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(5));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(50));
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 1000);
        return conf;
    }

    /** {@code outage://<absolute path of dir>}. */
    public static String uri(java.nio.file.Path dir) {
        return SCHEME + "://" + dir.toAbsolutePath().toUri().getPath();
    }

    private static Path toLocal(Path p) {
        return new Path("file", null, p.toUri().getPath());
    }

    private static Path toOutage(Path p) {
        return new Path(SCHEME, null, p.toUri().getPath());
    }

    private static void failIfDown(String what, Path f) throws IOException {
        if (writesDown) {
            WRITE_FAULTS.incrementAndGet();
            throw new IOException(
                    "injected: connection refused, the store is down (" + what + " " + f + ")");
        }
    }

    @Override
    public FSDataOutputStream create(Path f, WriteMode overwriteMode) throws IOException {
        failIfDown("create", f);
        if (metadataDown && "_metadata".equals(f.getName())) {
            METADATA_FAULTS.incrementAndGet();
            throw new IOException(
                    "injected: connection refused while creating " + f + " (metadata writes down)");
        }
        return local.create(toLocal(f), overwriteMode);
    }

    @Override
    public boolean mkdirs(Path f) throws IOException {
        failIfDown("mkdirs", f);
        CountDownLatch gate = directoryGate;
        String name = f.getName();
        if (gate != null
                && gate.getCount() > 0
                && (name.startsWith("chk-") || name.startsWith("savepoint-"))) {
            HELD_DIRECTORIES.incrementAndGet();
            try {
                gate.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("mkdirs " + f + " interrupted while held");
            }
        }
        return local.mkdirs(toLocal(f));
    }

    @Override
    public boolean delete(Path f, boolean recursive) throws IOException {
        failIfDown("delete", f);
        return local.delete(toLocal(f), recursive);
    }

    @Override
    public boolean rename(Path src, Path dst) throws IOException {
        failIfDown("rename", src);
        return local.rename(toLocal(src), toLocal(dst));
    }

    @Override
    public Path getWorkingDirectory() {
        return toOutage(local.getWorkingDirectory());
    }

    @Override
    public Path getHomeDirectory() {
        return toOutage(local.getHomeDirectory());
    }

    @Override
    public URI getUri() {
        return URI.create(SCHEME + ":///");
    }

    @Override
    public FileStatus getFileStatus(Path f) throws IOException {
        return new Status(local.getFileStatus(toLocal(f)));
    }

    @Override
    public BlockLocation[] getFileBlockLocations(FileStatus file, long start, long len)
            throws IOException {
        return local.getFileBlockLocations(
                local.getFileStatus(toLocal(file.getPath())), start, len);
    }

    @Override
    public FSDataInputStream open(Path f, int bufferSize) throws IOException {
        return local.open(toLocal(f), bufferSize);
    }

    @Override
    public FSDataInputStream open(Path f) throws IOException {
        return local.open(toLocal(f));
    }

    @Override
    public FileStatus[] listStatus(Path f) throws IOException {
        FileStatus[] statuses = local.listStatus(toLocal(f));
        if (statuses == null) {
            return null;
        }
        FileStatus[] out = new FileStatus[statuses.length];
        for (int i = 0; i < statuses.length; i++) {
            out[i] = new Status(statuses[i]);
        }
        return out;
    }

    @Override
    public boolean exists(Path f) throws IOException {
        return local.exists(toLocal(f));
    }

    @Override
    public boolean isDistributedFS() {
        return false;
    }

    /** Abstract in Flink 1.20's FileSystem (no @Override: Flink 2.x no longer declares it). */
    public FileSystemKind getKind() {
        return FileSystemKind.FILE_SYSTEM;
    }

    private static final class Status implements FileStatus {
        private final FileStatus local;

        Status(FileStatus local) {
            this.local = local;
        }

        @Override
        public long getLen() {
            return local.getLen();
        }

        @Override
        public long getBlockSize() {
            return local.getBlockSize();
        }

        @Override
        public short getReplication() {
            return local.getReplication();
        }

        @Override
        public long getModificationTime() {
            return local.getModificationTime();
        }

        @Override
        public long getAccessTime() {
            return local.getAccessTime();
        }

        @Override
        public boolean isDir() {
            return local.isDir();
        }

        @Override
        public Path getPath() {
            return toOutage(local.getPath());
        }
    }

    /** The factory Flink finds with ServiceLoader. */
    public static final class Factory implements FileSystemFactory {
        @Override
        public String getScheme() {
            return SCHEME;
        }

        @Override
        public FileSystem create(URI fsUri) {
            return new OutageFileSystem();
        }
    }
}
