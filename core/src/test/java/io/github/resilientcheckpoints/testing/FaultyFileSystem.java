package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
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
 * {@code faulty:///some/path}: the local file system, with faults injected into writes of files
 * named {@code _metadata} (and nothing else). Registered for tests through {@code
 * META-INF/services/org.apache.flink.core.fs.FileSystemFactory}. Like object stores, it has no
 * recoverable writer, so Flink writes {@code _metadata} with a plain stream.
 *
 * <p>{@link Mode#EVERY_OTHER} fails every second {@code _metadata} write, in turn at create, in the
 * middle of the bytes (a partial file is left) and at close (after all bytes were written): {@code
 * 50%} of writes fail, and never two in a row. {@link Mode#ACCESS_DENIED} refuses every {@code
 * _metadata} create as a permission error would.
 *
 * <p>Checkpoint and savepoint directories ({@code chk-N}, {@code savepoint-*}) have faults of their
 * own: {@link DirectoryMode#FLAKY} fails two of every three {@code mkdirs} of such a directory and
 * every other delete of one (transient errors, never two deletes in a row), {@link
 * DirectoryMode#ACCESS_DENIED} refuses every {@code mkdirs} of one as a permission error would.
 *
 * <p>State files (every other name) are written untouched unless a test arms {@link
 * #failStateWrites}: then that many state-file writes fail once {@link #STATE_FAULT_AFTER_BYTES}
 * bytes went through (half of the failing write is left in the file), as a connection reset
 * mid-stream would. A test can also {@link #holdStateWrites hold} state-file writes: each write
 * then waits (interruptibly) until the gate opens, as a hung store connection would.
 */
public final class FaultyFileSystem extends FileSystem {

    public static final String SCHEME = "faulty";

    public enum Mode {
        OFF,
        EVERY_OTHER,
        ACCESS_DENIED
    }

    public static volatile Mode mode = Mode.OFF;

    public enum DirectoryMode {
        OFF,
        FLAKY,
        ACCESS_DENIED
    }

    public static volatile DirectoryMode directoryMode = DirectoryMode.OFF;

    /** Faults injected into creates and deletes of checkpoint and savepoint directories. */
    public static final AtomicLong DIRECTORY_FAULTS = new AtomicLong();

    private static final AtomicInteger MKDIRS_SEQUENCE = new AtomicInteger();
    private static final AtomicInteger DELETE_SEQUENCE = new AtomicInteger();

    /** {@code _metadata} writes started (creates) and faults injected, since the JVM started. */
    public static final AtomicLong METADATA_CREATES = new AtomicLong();

    public static final AtomicLong FAULTS = new AtomicLong();

    private static final AtomicInteger SEQUENCE = new AtomicInteger();

    /** State-file writes still to fail mid-stream; tests set it and reset it to 0. */
    public static final AtomicInteger failStateWrites = new AtomicInteger();

    public static final long STATE_FAULT_AFTER_BYTES = 1 << 20;

    /** While true, state-file faults read as the store's push-back (503 SlowDown), not a reset. */
    public static volatile boolean stateFaultsThrottle;

    /** While set and closed, every state-file write waits for it; tests reset it to null. */
    public static volatile CountDownLatch holdStateWrites;

    /** State-file writes that waited at {@link #holdStateWrites}. */
    public static final AtomicLong HELD_STATE_WRITES = new AtomicLong();

    /** Faults injected into state-file writes since the JVM started. */
    public static final AtomicLong STATE_FAULTS = new AtomicLong();

    private final LocalFileSystem local = LocalFileSystem.getSharedInstance();

    /** Every fault off. */
    public static void reset() {
        mode = Mode.OFF;
        directoryMode = DirectoryMode.OFF;
    }

    /**
     * The counting job with {@code storage}, checkpointing to {@code faulty://checkpoints} with
     * short retry backoffs (30 attempts), spilling to {@code spill}: what the JobManager fault
     * tests run.
     */
    public static Configuration jobConfig(
            String storage, java.nio.file.Path checkpoints, java.nio.file.Path spill) {
        Configuration conf = CountingJob.config(storage, "hashmap", uri(checkpoints));
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 30);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(5));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(50));
        return conf;
    }

    public static String uri(java.nio.file.Path dir) {
        return SCHEME + "://" + dir.toAbsolutePath().toUri().getPath();
    }

    private static Path toLocal(Path p) {
        return new Path("file", null, p.toUri().getPath());
    }

    private static Path toFaulty(Path p) {
        return new Path(SCHEME, null, p.toUri().getPath());
    }

    private static boolean isMetadata(Path p) {
        return "_metadata".equals(p.getName());
    }

    private static boolean isLocationDirectory(Path p) {
        return p.getName().startsWith("chk-") || p.getName().startsWith("savepoint-");
    }

    @Override
    public FSDataOutputStream create(Path f, WriteMode overwriteMode) throws IOException {
        if (!isMetadata(f) && failStateWrites.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            return new MidStreamFault(
                    local.create(toLocal(f), overwriteMode), f, STATE_FAULT_AFTER_BYTES);
        }
        if (!isMetadata(f)) {
            // Unarmed, it only waits at the hold gate (when a test sets one) and never fails.
            return new MidStreamFault(local.create(toLocal(f), overwriteMode), f, Long.MAX_VALUE);
        }
        if (!isMetadata(f) || mode == Mode.OFF) {
            return local.create(toLocal(f), overwriteMode);
        }
        METADATA_CREATES.incrementAndGet();
        if (mode == Mode.ACCESS_DENIED) {
            FAULTS.incrementAndGet();
            throw new AccessDeniedException(f.toUri().getPath(), null, "injected: access denied");
        }
        int n = SEQUENCE.getAndIncrement();
        if (n % 2 == 0) {
            return local.create(toLocal(f), overwriteMode);
        }
        int where = (n / 2) % 3;
        if (where == 0) {
            FAULTS.incrementAndGet();
            throw new IOException("injected: connection reset while creating " + f);
        }
        return new FaultyStream(local.create(toLocal(f), overwriteMode), where == 1, f);
    }

    /** Fails in the middle of the first write ({@code midWrite}) or at close after all bytes. */
    private static final class FaultyStream extends FSDataOutputStream {
        private final FSDataOutputStream out;
        private final boolean midWrite;
        private final Path path;
        private boolean failed;

        FaultyStream(FSDataOutputStream out, boolean midWrite, Path path) {
            this.out = out;
            this.midWrite = midWrite;
            this.path = path;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (midWrite && !failed) {
                failed = true;
                out.write(b, off, len / 2);
                out.flush();
                FAULTS.incrementAndGet();
                throw new IOException("injected: connection reset while writing " + path);
            }
            out.write(b, off, len);
        }

        @Override
        public long getPos() throws IOException {
            return out.getPos();
        }

        @Override
        public void flush() throws IOException {
            out.flush();
        }

        @Override
        public void sync() throws IOException {
            out.sync();
        }

        @Override
        public void close() throws IOException {
            out.close();
            if (!midWrite && !failed) {
                failed = true;
                FAULTS.incrementAndGet();
                throw new IOException("injected: connection reset while closing " + path);
            }
        }
    }

    /**
     * Fails the write that goes past {@code failAfter} bytes, and every call after it; waits at
     * {@link #holdStateWrites} before each write while that gate is set.
     */
    private static final class MidStreamFault extends FSDataOutputStream {
        private final FSDataOutputStream out;
        private final Path path;
        private final long failAfter;
        private long written;
        private boolean failed;

        MidStreamFault(FSDataOutputStream out, Path path, long failAfter) {
            this.out = out;
            this.path = path;
            this.failAfter = failAfter;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            checkNotFailed();
            CountDownLatch gate = holdStateWrites;
            if (gate != null && gate.getCount() > 0) {
                HELD_STATE_WRITES.incrementAndGet();
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException(
                            "write to " + path + " interrupted while held");
                }
            }
            if (written + len > failAfter) {
                failed = true;
                out.write(b, off, len / 2);
                out.flush();
                STATE_FAULTS.incrementAndGet();
                throw new IOException(
                        stateFaultsThrottle
                                ? "injected: 503 SlowDown while writing " + path
                                : "injected: connection reset while writing " + path);
            }
            out.write(b, off, len);
            written += len;
        }

        private void checkNotFailed() throws IOException {
            if (failed) {
                throw new IOException("injected: stream to " + path + " is broken");
            }
        }

        @Override
        public long getPos() throws IOException {
            return out.getPos();
        }

        @Override
        public void flush() throws IOException {
            checkNotFailed();
            out.flush();
        }

        @Override
        public void sync() throws IOException {
            checkNotFailed();
            out.sync();
        }

        @Override
        public void close() throws IOException {
            out.close();
        }
    }

    @Override
    public Path getWorkingDirectory() {
        return toFaulty(local.getWorkingDirectory());
    }

    @Override
    public Path getHomeDirectory() {
        return toFaulty(local.getHomeDirectory());
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
    public boolean delete(Path f, boolean recursive) throws IOException {
        if (directoryMode == DirectoryMode.FLAKY
                && isLocationDirectory(f)
                && DELETE_SEQUENCE.getAndIncrement() % 2 == 1) {
            DIRECTORY_FAULTS.incrementAndGet();
            throw new IOException("injected: connection reset while deleting " + f);
        }
        return local.delete(toLocal(f), recursive);
    }

    @Override
    public boolean mkdirs(Path f) throws IOException {
        if (directoryMode != DirectoryMode.OFF && isLocationDirectory(f)) {
            if (directoryMode == DirectoryMode.ACCESS_DENIED) {
                DIRECTORY_FAULTS.incrementAndGet();
                throw new AccessDeniedException(
                        f.toUri().getPath(), null, "injected: access denied");
            }
            if (MKDIRS_SEQUENCE.getAndIncrement() % 3 != 2) {
                DIRECTORY_FAULTS.incrementAndGet();
                throw new IOException("injected: connection reset while creating directory " + f);
            }
        }
        return local.mkdirs(toLocal(f));
    }

    @Override
    public boolean rename(Path src, Path dst) throws IOException {
        return local.rename(toLocal(src), toLocal(dst));
    }

    @Override
    public boolean isDistributedFS() {
        return false;
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
            return toFaulty(local.getPath());
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
            return new FaultyFileSystem();
        }
    }

    /** Abstract in Flink 1.20's FileSystem (no @Override: Flink 2.x no longer declares it). */
    public FileSystemKind getKind() {
        return FileSystemKind.FILE_SYSTEM;
    }
}
