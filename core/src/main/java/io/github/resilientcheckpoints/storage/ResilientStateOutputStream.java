package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.spill.StagedReaders;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.upload.StagedSource;
import io.github.resilientcheckpoints.upload.StateFileUpload;
import io.github.resilientcheckpoints.upload.UploadCancellation;
import io.github.resilientcheckpoints.upload.UploadDeadline;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
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
 * A checkpoint state stream that stages on local disk and hands the staged bytes to a {@link
 * StateFileUpload}. Up to the inline threshold the bytes stay in memory and become a {@link
 * ByteStreamStateHandle}; beyond it each full buffer goes to a spill file inside a growing disk
 * reservation, or, when no disk has room, to memory within the TaskManager's budget (or the stream
 * fails, by policy). {@link #closeAndGetHandle()} returns a {@link FileStateHandle} or {@link
 * RelativeFileStateHandle} once the bytes are durable in the store; {@link #close()} without a
 * handle discards everything, from any thread. One writer thread; {@code write} takes no lock.
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

    /** Set by the fallback: full buffers kept in memory; the current buffer follows them. */
    @Nullable private volatile MemoryChunks memory;

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

    /** How the staged bytes reach the store: adoption, pipelined upload or whole-file upload. */
    private final StateFileUpload upload;

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
        this.upload =
                new StateFileUpload(services.uploader(), targetDirectory, deadline, stagedReaders);
    }

    // Every write checks the (volatile) state: a stream closed by another thread (a cancelled
    // checkpoint) fails the snapshot thread's next write at once, as Flink's stream does, instead
    // of taking bytes until its buffer fills.
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
        MemoryChunks m = memory;
        return spilledBytes + (m == null ? 0 : m.bytes()) + pos;
    }

    /** Data becomes durable in {@link #closeAndGetHandle()}; nothing to promise before. */
    @Override
    public void flush() {}

    @Override
    public void sync() {}

    /** Moves the full buffer to the spill file, or to memory after a fallback. */
    private void flushBuffer() throws IOException {
        checkOpen();
        if (memory == null && ensureFileRoom(pos) && spill(buffer, 0, pos)) {
            pos = 0;
            upload.spilled(reservation.file(), spilledBytes);
            return;
        }
        keepBufferInMemory();
    }

    /**
     * Writes a large array straight to the spill file when its reservation can take all of it;
     * false otherwise (the caller then copies it through the buffer, chunk by chunk).
     */
    private boolean writeDirectly(byte[] b, int off, int len) throws IOException {
        if (memory != null
                || spillOut == null
                || !(spilledBytes + len <= reservation.limit()
                        || reservation.growTo(spilledBytes + len, spilledBytes))) {
            return false;
        }
        if (!spill(b, off, len)) {
            return false;
        }
        upload.spilled(reservation.file(), spilledBytes);
        return true;
    }

    /** Appends to the spill file; false after a failed write (the stream fell back to memory). */
    private boolean spill(byte[] b, int off, int len) throws IOException {
        try {
            spillOut.write(b, off, len);
            spilledBytes += len;
            return true;
        } catch (IOException e) {
            checkOpen();
            fallBack(
                    "writing spill file " + reservation.file() + " failed: " + e.getMessage(),
                    true);
            return false;
        }
    }

    /**
     * Opens or grows the spill reservation so that {@code bytes} more fit; false after a fallback.
     */
    private boolean ensureFileRoom(long bytes) throws IOException {
        SpillSpace space = services.spillSpace();
        if (spillOut == null) {
            SpillFile file =
                    SpillFile.create(space, Math.max(bytes, space.limits().chunkBytes()), upload);
            if (file == null) {
                fallBack("no spill directory has room for " + bytes + " more bytes", false);
                return false;
            }
            reservation = file.reservation();
            spillOut = file.out();
            services.metrics().spillFileCreated();
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
        if (space.limits().fallback() == SpillFallback.FAIL) {
            services.metrics().spillFailed();
            IOException failure = new IOException(noRoomMessage(reason, false));
            close(); // the stream is failed: the pipelined upload and the spill file go now
            throw failure;
        }
        memory = new MemoryChunks(services.spillSpace().memoryBudget());
        upload.restInMemory();
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

    /** Keeps the full buffer in memory, or fails the stream with the full story. */
    private void keepBufferInMemory() throws IOException {
        MemoryChunks m = memory;
        if (!m.tryAdd(buffer)) {
            services.metrics().spillFailed();
            throw new IOException(noRoomMessage("the memory fallback budget is exhausted", true));
        }
        if (state != OPEN) {
            // close() ran concurrently and may have missed this memory.
            m.release();
            checkOpen();
        }
        services.metrics().memoryFallback(buffer.length);
        buffer = new byte[buffer.length];
        pos = 0;
    }

    private String noRoomMessage(String reason, boolean memoryExhausted) {
        return NoRoomMessage.of(targetDirectory, reason, memoryExhausted, services.spillSpace());
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

    @Nullable
    @Override
    public StreamStateHandle closeAndGetHandle() throws IOException {
        if (!STATE.compareAndSet(this, OPEN, UPLOADING)) {
            throw new IOException("Stream has already been closed and discarded.");
        }
        deadline.start();
        try {
            boolean staged = spillOut != null || memory != null;
            if (!staged && pos == 0) {
                STATE.compareAndSet(this, UPLOADING, DONE);
                return null;
            }
            if (!staged && pos <= inlineThreshold) {
                String name = UUID.randomUUID().toString();
                StreamStateHandle handle =
                        new ByteStreamStateHandle(
                                new Path(targetDirectory, name).toString(),
                                Arrays.copyOf(buffer, pos));
                STATE.compareAndSet(this, UPLOADING, DONE);
                services.metrics().inlineHandle();
                return handle;
            }
            UploadSource source = finishStaging();
            Path written =
                    upload.finish(
                            source,
                            reservation == null ? null : reservation.file(),
                            spilledBytes,
                            cancellation);
            if (!STATE.compareAndSet(this, UPLOADING, DONE)) {
                // Discarded while the last attempt completed: the file belongs to nobody.
                upload.discard(written);
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
            upload.abort();
            throw e;
        } finally {
            discardLocal();
            storeInUse.release();
        }
    }

    /** Writes what is left to its staging place and describes all staged bytes, in order. */
    private UploadSource finishStaging() throws IOException {
        if (spillOut != null
                && memory == null
                && pos > 0
                && ensureFileRoom(pos)
                && spill(buffer, 0, pos)) {
            pos = 0;
        }
        if (spillOut != null) {
            if (!upload.spillFileInPlace()) { // else open until its adoption syncs it
                spillOut.close();
            }
            services.metrics().spilled(spilledBytes);
        }
        MemoryChunks m = memory;
        List<byte[]> chunks = m == null ? List.of() : m.snapshot();
        return new StagedSource(
                reservation == null ? null : reservation.file(),
                spilledBytes,
                chunks,
                buffer,
                pos,
                stagedReaders);
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
        upload.abort();
        discardLocal();
        storeInUse.release();
        // Like Flink's stream, leave nothing behind when close() returns (bounded: a hung store
        // must not hold the cancelling thread; the discard then finishes in the background).
        upload.awaitAborted(CLOSE_DISCARD_WAIT_NANOS);
    }

    /**
     * Closes and deletes the spill file; gives back disk and memory now, or once the last upload
     * attempt still reading them (one abandoned, stuck in the store) closes its reader. Idempotent.
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

    /** Gives back disk and memory (and deletes a spill file an open reader kept); idempotent. */
    private void releaseLocal() {
        SpillSpace.Reservation r = reservation;
        if (r != null) {
            deleteSpillFile(true);
            r.release(spilledBytes);
        }
        MemoryChunks m = memory;
        if (m != null) {
            m.release();
        }
    }

    private void deleteSpillFile(boolean last) {
        SpillSpace.Reservation r = reservation;
        if (r == null || spillDeleted || (upload.spillFileAdopted() && state == DONE)) {
            return; // the state file its handle names
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

    /** For tests and diagnostics: where this stream spills, or null while it has no spill file. */
    @Nullable
    java.nio.file.Path spillFile() {
        SpillSpace.Reservation r = reservation;
        return r == null ? null : r.file();
    }
}
