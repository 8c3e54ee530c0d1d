package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.spill.StagedReaders;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.SupportsSpillAdoption;
import io.github.resilientcheckpoints.store.SupportsStreamingUpload;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.upload.FileSlice;
import io.github.resilientcheckpoints.upload.PipelinedUpload;
import io.github.resilientcheckpoints.upload.UploadCancellation;
import io.github.resilientcheckpoints.upload.UploadDeadline;
import java.io.ByteArrayInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import java.util.concurrent.atomic.AtomicLong;
import javax.annotation.Nullable;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.RelativeFileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A checkpoint state stream that stages on local disk and uploads with retries.
 *
 * <ul>
 *   <li>Up to the inline threshold, bytes stay in memory and become a {@link ByteStreamStateHandle}
 *       inside {@code _metadata}, exactly as with Flink's stream.
 *   <li>Beyond that, each full buffer goes to a local spill file, inside a disk reservation that
 *       grows chunk by chunk ({@link SpillSpace}). When no directory has room, or the disk fills up
 *       under us, the rest of the stream is kept in memory within the TaskManager's budget (policy
 *       {@code memory}) or the stream fails with a message naming every directory (policy {@code
 *       fail}). Bytes already in the spill file stay there and are uploaded with the rest.
 *   <li>While the stream is still written, a {@link PipelinedUpload} sends the spill file to the
 *       store: full parts when the store takes parts (S3), otherwise one write that follows the
 *       spill file on an upload thread (HDFS, Flink file systems), reading up to the length this
 *       stream publishes after each spill write. It owns that upload (permit, completion, deadline,
 *       abort). The spill file is the replay log: it is never fsynced, and when the pipelined
 *       upload fails it is uploaded whole, with retries, under a fresh name.
 *   <li>{@link #closeAndGetHandle()} completes the pipelined upload or, without one (or when it
 *       failed), uploads the staged bytes through the {@link
 *       io.github.resilientcheckpoints.upload.RetryingUploader}, deletes the spill file and returns
 *       a plain {@link FileStateHandle} or {@link RelativeFileStateHandle}: the bytes are durable
 *       in the store before the handle is returned.
 *   <li>{@link #close()} without a handle, from any thread, discards everything: the spill file,
 *       the memory, an upload in flight and what it wrote. A write that fails the stream (no room
 *       anywhere) discards it the same way.
 * </ul>
 *
 * <p>Threading: one writer thread calls {@code write} and {@code closeAndGetHandle}; {@code close}
 * may come from any thread. {@code write} takes no lock and allocates nothing: it touches only the
 * buffer and, once per full buffer, the spill file (and once per chunk the reservation). The
 * lifecycle is one atomic state.
 */
public final class ResilientStateOutputStream extends CheckpointStateOutputStream {

    private static final Logger LOG = LoggerFactory.getLogger(ResilientStateOutputStream.class);

    private static final long CLOSE_DISCARD_WAIT_NANOS = TimeUnit.SECONDS.toNanos(2);

    private static final int OPEN = 0;
    private static final int UPLOADING = 1;
    private static final int DONE = 2;
    private static final int DISCARDED = 3;

    private static final AtomicIntegerFieldUpdater<ResilientStateOutputStream> STATE =
            AtomicIntegerFieldUpdater.newUpdater(ResilientStateOutputStream.class, "state");

    private final Path targetDirectory;
    private final boolean relativePathsAllowed;
    private final int inlineThreshold;
    private final WorkerServices services;

    /** Keeps the runtime from closing the store as idle while this stream may still use it. */
    private final WorkerServices.StoreInUse storeInUse;

    private final UploadDeadline deadline;
    private final UploadCancellation cancellation = new UploadCancellation();

    private byte[] buffer;
    private int pos;

    /** Bytes confirmed in the spill file. */
    private long spilledBytes;

    /** Full buffers kept in memory after the fallback; the current buffer follows them. */
    private List<byte[]> memoryChunks = Collections.emptyList();

    private boolean memoryFallback;
    private final AtomicLong memoryHeld = new AtomicLong();

    /**
     * Upload attempts reading the staged bytes: an attempt the uploader abandoned may read on after
     * the stream is finished, and the disk and memory stay reserved until it stops.
     */
    private final StagedReaders stagedReaders = new StagedReaders(this::releaseLocal);

    private volatile int state = OPEN;
    private volatile SpillSpace.Reservation reservation;
    private volatile FileOutputStream spillOut;

    /** Set once the spill file is gone from its directory (deleted once, not per release). */
    private volatile boolean spillDeleted;

    /** The store's part uploads, when it has them: full parts of the spill file go up early. */
    @Nullable private final SupportsPartUploads partStore;

    /**
     * Otherwise the store's following write, when it has one: the spill file is followed as it
     * grows.
     */
    @Nullable private final SupportsStreamingUpload streamStore;

    /** The store's spill adoption (local target): the finished spill file becomes the file. */
    @Nullable private final SupportsSpillAdoption adoptionStore;

    /** Whether this stream's spill file can become its state file (decided when it is created). */
    private boolean adoptable;

    @Nullable private volatile PipelinedUpload pipeline;

    /** No pipelining for this stream (no permit was free, or the store could not start one). */
    private boolean pipelineOff;

    /**
     * @param targetDirectory remote directory of the state file ({@code chk-N}, {@code shared} or
     *     {@code taskowned})
     * @param relativePathsAllowed whether the handle may be relative to the checkpoint directory
     *     (exclusive state; Flink's rule)
     * @param inlineThreshold largest state kept inline in the metadata
     * @param bufferSize write buffer, at least {@code inlineThreshold}
     * @param deadlineNanos ticker time after which the upload gives up
     */
    public ResilientStateOutputStream(
            Path targetDirectory,
            boolean relativePathsAllowed,
            int inlineThreshold,
            int bufferSize,
            WorkerServices services,
            long deadlineNanos) {
        this(
                targetDirectory,
                relativePathsAllowed,
                inlineThreshold,
                bufferSize,
                services,
                UploadDeadline.at(deadlineNanos));
    }

    /**
     * @param deadline when the upload gives up: a checkpoint's deadline, or a budget counted from
     *     {@link #closeAndGetHandle()} for task-owned state
     */
    public ResilientStateOutputStream(
            Path targetDirectory,
            boolean relativePathsAllowed,
            int inlineThreshold,
            int bufferSize,
            WorkerServices services,
            UploadDeadline deadline) {
        if (inlineThreshold < 0 || bufferSize < Math.max(1, inlineThreshold)) {
            throw new IllegalArgumentException(
                    "need 0 <= inlineThreshold <= bufferSize, bufferSize >= 1: "
                            + inlineThreshold
                            + ", "
                            + bufferSize);
        }
        this.targetDirectory = targetDirectory;
        this.relativePathsAllowed = relativePathsAllowed;
        this.inlineThreshold = inlineThreshold;
        this.buffer = new byte[bufferSize];
        this.services = services;
        this.deadline = deadline;
        this.storeInUse = services.useStore();
        CheckpointStore store = services.uploader().store();
        this.partStore = store.capability(SupportsPartUploads.class).orElse(null);
        this.streamStore =
                partStore != null
                        ? null
                        : store.capability(SupportsStreamingUpload.class).orElse(null);
        this.adoptionStore =
                partStore != null
                        ? null
                        : store.capability(SupportsSpillAdoption.class).orElse(null);
    }

    // ------------------------------------------------------------------ hot path

    // Every write checks the (volatile) state: a stream closed by another thread (a cancelled
    // checkpoint) fails the snapshot thread's next write at once, as Flink's stream does, instead
    // of
    // taking bytes until its buffer fills.
    @Override
    public void write(int b) throws IOException {
        if (state != OPEN) {
            throw closedForWrites();
        }
        if (pos == buffer.length) {
            flushBuffer();
        }
        buffer[pos++] = (byte) b;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        if (state != OPEN) {
            throw closedForWrites();
        }
        if (len <= buffer.length - pos) {
            System.arraycopy(b, off, buffer, pos, len);
            pos += len;
            return;
        }
        while (len > 0) {
            if (pos == buffer.length) {
                flushBuffer();
            }
            if (pos == 0 && len >= buffer.length && writeDirectly(b, off, len)) {
                return;
            }
            int n = Math.min(len, buffer.length - pos);
            System.arraycopy(b, off, buffer, pos, n);
            pos += n;
            off += n;
            len -= n;
        }
    }

    @Override
    public long getPos() {
        long inMemory = 0;
        for (byte[] chunk : memoryChunks) {
            inMemory += chunk.length;
        }
        return spilledBytes + inMemory + pos;
    }

    /**
     * Data becomes durable in {@link #closeAndGetHandle()}; a flush has nothing to promise before.
     */
    @Override
    public void flush() {}

    @Override
    public void sync() {}

    // ------------------------------------------------------------------ staging (once per buffer)

    /** Moves the full buffer to the spill file, or to memory after a fallback. */
    private void flushBuffer() throws IOException {
        checkOpen();
        if (!memoryFallback && ensureFileRoom(pos)) {
            try {
                spillOut.write(buffer, 0, pos);
                spilledBytes += pos;
                pos = 0;
                submitFullParts();
                return;
            } catch (IOException e) {
                checkOpen();
                fallBack(
                        "writing spill file " + reservation.file() + " failed: " + e.getMessage(),
                        true);
            }
        }
        keepBufferInMemory();
    }

    /**
     * Writes a large array straight to the spill file when its reservation can take all of it;
     * false otherwise (the caller then copies it through the buffer, chunk by chunk).
     */
    private boolean writeDirectly(byte[] b, int off, int len) throws IOException {
        if (memoryFallback
                || spillOut == null
                || !(spilledBytes + len <= reservation.limit()
                        || reservation.growTo(spilledBytes + len, spilledBytes))) {
            return false;
        }
        try {
            spillOut.write(b, off, len);
            spilledBytes += len;
            submitFullParts();
            return true;
        } catch (IOException e) {
            checkOpen();
            fallBack(
                    "writing spill file " + reservation.file() + " failed: " + e.getMessage(),
                    true);
            return false;
        }
    }

    // ------------------------------------------------------------------ pipelined upload

    /**
     * Tells the pipelined upload how far the spill file is written (full parts go, or the following
     * write reads on); starts it once the file is large enough and a permit is free. Only an
     * optimisation: the spill file stays until the end, so without a pipelined upload (or when it
     * fails) the whole file is uploaded the ordinary, retried way. Allocates nothing once started
     * (a following write only reads a volatile length).
     */
    private void submitFullParts() {
        if ((partStore == null && streamStore == null)
                || pipelineOff
                || memoryFallback
                || adoptable) {
            return;
        }
        PipelinedUpload p = pipeline;
        if (p == null) {
            p = startPipeline();
            if (p == null) {
                return;
            }
        }
        p.advance(reservation.file(), spilledBytes);
    }

    @Nullable
    private PipelinedUpload startPipeline() {
        if (deadline.nanos() == UploadDeadline.NOT_STARTED) {
            // Task-owned state: the stream may stay open a whole checkpoint interval; a pipelined
            // upload (parts or a following write) would hold an upload permit, a thread and the
            // store's pending upload all that time. It goes up whole at the end.
            pipelineOff = true;
            return null;
        }
        PipelinedUpload p;
        if (partStore != null) {
            if (spilledBytes < Math.max(partStore.pipelineThreshold(), partStore.partSize())) {
                return null;
            }
            p =
                    PipelinedUpload.tryStart(
                            partStore,
                            newTargetPath(),
                            services.uploader(),
                            services.metrics(),
                            services.ticker(),
                            deadline,
                            stagedReaders);
        } else {
            p =
                    PipelinedUpload.tryFollow(
                            streamStore,
                            newTargetPath(),
                            reservation.file(),
                            services.uploader(),
                            services.metrics(),
                            services.ticker(),
                            deadline,
                            stagedReaders);
        }
        if (p == null) {
            pipelineOff = true;
            return null;
        }
        pipeline = p;
        if (state != OPEN) {
            // close() ran while the upload was started and could not see it.
            p.abort();
        }
        return p;
    }

    /** Ends the pipelined upload, if any, giving its permit back; idempotent, any thread. */
    private void abortPipeline() {
        PipelinedUpload p = pipeline;
        if (p != null) {
            p.abort();
        }
    }

    /**
     * Opens or grows the spill reservation so that {@code bytes} more fit; false after a fallback.
     */
    private boolean ensureFileRoom(long bytes) throws IOException {
        SpillSpace space = services.spillSpace();
        if (spillOut == null) {
            Optional<SpillSpace.Reservation> r =
                    space.reserve(Math.max(bytes, space.limits().chunkBytes()));
            if (r.isEmpty()) {
                fallBack("no spill directory has room for " + bytes + " more bytes", false);
                return false;
            }
            reservation = r.get();
            spillOut = new FileOutputStream(reservation.file().toFile());
            services.metrics().spillFileCreated();
            // A spill file that can become the state file needs no following write.
            adoptable =
                    adoptionStore != null
                            && adoptionStore.canAdopt(reservation.file(), targetDirectory);
            if (state != OPEN) {
                // close() ran while the file was created and could not see it.
                discardLocal();
                checkOpen();
            }
            return true;
        }
        if (spilledBytes + bytes <= reservation.limit()
                || reservation.growTo(spilledBytes + bytes, spilledBytes)) {
            return true;
        }
        fallBack(
                "spill directory of "
                        + reservation.file().getFileName()
                        + " has no room for "
                        + bytes
                        + " more bytes",
                false);
        return false;
    }

    private void fallBack(String reason, boolean writeFailed) throws IOException {
        SpillSpace space = services.spillSpace();
        if (space.limits().fallback() == SpillLimits.FallbackPolicy.FAIL) {
            services.metrics().spillFailed();
            IOException failure = new IOException(noRoomMessage(reason, false));
            close(); // the stream is failed: the pipelined upload and the spill file go now
            throw failure;
        }
        memoryFallback = true;
        memoryChunks = new ArrayList<>();
        abortPipeline();
        if (writeFailed) {
            services.metrics().fallbackWriteFailed();
        } else {
            services.metrics().fallbackNoSpace();
        }
        SpillSpace.Reservation r = reservation;
        if (r != null) {
            r.trimTo(spilledBytes);
        }
        LOG.warn(
                "Staging checkpoint state for {} in memory from byte {} on: {}.",
                targetDirectory,
                spilledBytes,
                reason);
    }

    private void keepBufferInMemory() throws IOException {
        acquireMemory(buffer.length);
        memoryChunks.add(buffer);
        services.metrics().memoryFallback(buffer.length);
        buffer = new byte[buffer.length];
        pos = 0;
    }

    /** Takes memory from the TaskManager's budget, or fails the stream with the full story. */
    private void acquireMemory(long bytes) throws IOException {
        if (!services.spillSpace().memoryBudget().tryAcquire(bytes)) {
            services.metrics().spillFailed();
            throw new IOException(noRoomMessage("the memory fallback budget is exhausted", true));
        }
        memoryHeld.addAndGet(bytes);
        if (state != OPEN) {
            // close() ran concurrently and may have missed this memory.
            releaseMemory();
            checkOpen();
        }
    }

    private String noRoomMessage(String reason, boolean memoryExhausted) {
        SpillSpace space = services.spillSpace();
        StringBuilder sb =
                new StringBuilder("Cannot stage checkpoint state for ")
                        .append(targetDirectory)
                        .append(" locally: ")
                        .append(reason)
                        .append(". Spill directories: ")
                        .append(space.describe())
                        .append('.');
        if (memoryExhausted) {
            sb.append(" Memory fallback: ")
                    .append(space.memoryBudget().used())
                    .append(" of ")
                    .append(space.memoryBudget().capacity())
                    .append(" bytes in use ('")
                    .append(ResilientCheckpointOptions.SPILL_FALLBACK_MEMORY_BUDGET.key())
                    .append("').");
        } else {
            sb.append(" Fallback policy is 'fail' ('")
                    .append(ResilientCheckpointOptions.SPILL_FALLBACK.key())
                    .append("').");
        }
        sb.append(" Free disk space, add directories to '")
                .append(ResilientCheckpointOptions.SPILL_DIRECTORIES.key())
                .append("', or adjust '")
                .append(ResilientCheckpointOptions.SPILL_FLOOR.key())
                .append("' / '")
                .append(ResilientCheckpointOptions.SPILL_QUOTA.key())
                .append("'. The task keeps running; this checkpoint fails.");
        return sb.toString();
    }

    private IOException closedForWrites() {
        return new IOException(
                "Cannot write: the state stream for "
                        + targetDirectory
                        + " is closed"
                        + (state == DISCARDED
                                ? " (the checkpoint was aborted or the task cancelled)."
                                : "."));
    }

    private void checkOpen() throws IOException {
        if (state != OPEN && state != UPLOADING) {
            throw new IOException("The state stream for " + targetDirectory + " is closed.");
        }
    }

    // ------------------------------------------------------------------ completion

    @Nullable
    @Override
    public StreamStateHandle closeAndGetHandle() throws IOException {
        if (!STATE.compareAndSet(this, OPEN, UPLOADING)) {
            throw new IOException("Stream has already been closed and discarded.");
        }
        deadline.start();
        try {
            boolean staged = spillOut != null || memoryFallback;
            if (!staged && pos == 0) {
                finish();
                return null;
            }
            if (!staged && pos <= inlineThreshold) {
                String name = UUID.randomUUID().toString();
                StreamStateHandle handle =
                        new ByteStreamStateHandle(
                                new Path(targetDirectory, name).toString(),
                                Arrays.copyOf(buffer, pos));
                finish();
                services.metrics().inlineHandle();
                return handle;
            }
            UploadSource source = finishStaging();
            PipelinedUpload p = pipeline;
            Path written = adoptable && !memoryFallback ? adoptSpillFile() : null;
            if (written == null && p != null && !memoryFallback) {
                written = p.complete(reservation.file(), spilledBytes, cancellation);
            }
            if (written == null) {
                written =
                        services.uploader()
                                .upload(
                                        source,
                                        this::newTargetPath,
                                        deadline.nanos(),
                                        cancellation);
            }
            if (!STATE.compareAndSet(this, UPLOADING, DONE)) {
                // Discarded while the last attempt completed: the file belongs to nobody.
                services.uploader().discard(written);
                throw new IOException(
                        "The state stream for "
                                + targetDirectory
                                + " was closed while its upload completed; the upload was deleted.");
            }
            long size = source.length();
            return relativePathsAllowed
                            && new Path(targetDirectory, written.getName()).equals(written)
                    ? new RelativeFileStateHandle(written, written.getName(), size)
                    : new FileStateHandle(written, size);
        } catch (IOException | RuntimeException | Error e) {
            STATE.set(this, DISCARDED);
            abortPipeline();
            throw e;
        } finally {
            discardLocal();
            storeInUse.release();
        }
    }

    /**
     * The finished spill file becomes the state file; null (and the ordinary upload follows) when
     * that fails.
     */
    @Nullable
    private Path adoptSpillFile() {
        Path target = newTargetPath();
        try {
            Path written = adoptionStore.adopt(reservation.file(), target);
            services.metrics().spillFileAdopted(spilledBytes);
            return written;
        } catch (IOException | RuntimeException e) {
            LOG.info(
                    "Could not put spill file {} in place as {} ({}); uploading it instead.",
                    reservation.file(),
                    target,
                    e.toString());
            return null;
        }
    }

    private void finish() {
        STATE.compareAndSet(this, UPLOADING, DONE);
    }

    /** Writes what is left to its staging place and describes all staged bytes, in order. */
    private UploadSource finishStaging() throws IOException {
        if (spillOut != null && !memoryFallback && pos > 0 && ensureFileRoom(pos)) {
            try {
                spillOut.write(buffer, 0, pos);
                spilledBytes += pos;
                pos = 0;
            } catch (IOException e) {
                checkOpen();
                fallBack(
                        "writing spill file " + reservation.file() + " failed: " + e.getMessage(),
                        true);
            }
        }
        if (spillOut != null) {
            spillOut.close();
            services.metrics().spilled(spilledBytes);
        }
        List<byte[]> chunks = new ArrayList<>(memoryChunks);
        return new StagedSource(
                reservation == null ? null : reservation.file(),
                spilledBytes,
                chunks,
                buffer,
                pos,
                stagedReaders);
    }

    private Path newTargetPath() {
        return new Path(targetDirectory, UUID.randomUUID().toString());
    }

    /**
     * Discards the stream: the spill file, memory, and an upload in progress (the uploading thread
     * sees the cancellation at once and deletes what its attempts wrote). After {@link
     * #closeAndGetHandle()} returned, the handle's owner is Flink and this does nothing.
     */
    @Override
    public void close() {
        while (true) {
            int s = state;
            if (s == DONE || s == DISCARDED) {
                return;
            }
            if (STATE.compareAndSet(this, s, DISCARDED)) {
                break;
            }
        }
        cancellation.cancel();
        abortPipeline();
        discardLocal();
        storeInUse.release();
        PipelinedUpload p = pipeline;
        if (p != null) {
            // Like Flink's stream, leave nothing behind when close() returns (bounded: a hung store
            // must not hold the cancelling thread; the discard then finishes in the background).
            p.awaitAborted(CLOSE_DISCARD_WAIT_NANOS);
        }
    }

    /**
     * Closes and deletes the spill file; gives back disk and memory now, or, while an upload
     * attempt (one the uploader abandoned, still stuck in the store) reads them, once it closes its
     * reader: its open file keeps the deleted file's blocks in use, and its reader the memory
     * chunks. Idempotent, any thread.
     */
    private void discardLocal() {
        FileOutputStream out = spillOut;
        if (out != null) {
            try {
                out.close();
            } catch (IOException e) {
                LOG.debug("Could not close spill file", e);
            }
        }
        // Gone from the directory at once; a reader that has it open reads on.
        deleteSpillFile(false);
        if (stagedReaders.finish()) {
            releaseLocal();
        }
    }

    /**
     * Gives back disk and memory (and deletes the spill file where an open reader kept it from
     * being deleted); idempotent, any thread (the last reader's, or the cleaner's for a reader
     * nobody closed).
     */
    private void releaseLocal() {
        SpillSpace.Reservation r = reservation;
        if (r != null) {
            deleteSpillFile(true);
            r.release(spilledBytes);
        }
        releaseMemory();
    }

    private void deleteSpillFile(boolean last) {
        SpillSpace.Reservation r = reservation;
        if (r == null || spillDeleted) {
            return;
        }
        try {
            Files.deleteIfExists(r.file());
            spillDeleted = true;
        } catch (IOException e) {
            if (last) {
                LOG.warn("Could not delete spill file {}: {}", r.file(), e.toString());
            } else {
                LOG.debug(
                        "Spill file {} not deleted yet (still open?): {}", r.file(), e.toString());
            }
        }
    }

    private void releaseMemory() {
        long held = memoryHeld.getAndSet(0);
        if (held > 0) {
            services.spillSpace().memoryBudget().release(held);
        }
    }

    /** For tests and diagnostics: where this stream spills, or null while it has no spill file. */
    @Nullable
    java.nio.file.Path spillFile() {
        SpillSpace.Reservation r = reservation;
        return r == null ? null : r.file();
    }

    /** The staged bytes: a prefix in the spill file, then full memory chunks, then the buffer. */
    private static final class StagedSource implements UploadSource {
        private final java.nio.file.Path file;
        private final long fileBytes;
        private final List<byte[]> chunks;
        private final byte[] tail;
        private final int tailLength;
        private final long length;
        private final StagedReaders readers;

        StagedSource(
                @Nullable java.nio.file.Path file,
                long fileBytes,
                List<byte[]> chunks,
                byte[] tail,
                int tailLength,
                StagedReaders readers) {
            this.readers = readers;
            this.file = file;
            this.fileBytes = file == null ? 0 : fileBytes;
            this.chunks = chunks;
            this.tail = tail;
            this.tailLength = tailLength;
            long n = this.fileBytes + tailLength;
            for (byte[] c : chunks) {
                n += c.length;
            }
            this.length = n;
        }

        @Override
        public long length() {
            return length;
        }

        @Override
        public InputStream open() throws IOException {
            return readers.open(this::openParts);
        }

        private InputStream openParts() throws IOException {
            List<InputStream> parts = new ArrayList<>();
            if (file != null && fileBytes > 0) {
                // Only the confirmed prefix: a write that failed half-way may have left a tail.
                parts.add(new FileSlice(file, 0, fileBytes).open());
            }
            for (byte[] c : chunks) {
                parts.add(new ByteArrayInputStream(c));
            }
            parts.add(new ByteArrayInputStream(tail, 0, tailLength));
            return new SequenceInputStream(Collections.enumeration(parts));
        }
    }
}
