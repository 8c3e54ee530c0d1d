package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.upload.UploadCancellation;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.RelativeFileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.io.ByteArrayInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;

/**
 * A checkpoint state stream that stages on local disk and uploads with retries.
 *
 * <ul>
 *   <li>Up to the inline threshold, bytes stay in memory and become a {@link ByteStreamStateHandle}
 *       inside {@code _metadata}, exactly as with Flink's stream.
 *   <li>Beyond that, a full buffer is written to a local spill file; {@link #closeAndGetHandle()}
 *       uploads it (or the buffer, when the data never left it) through the {@link
 *       io.github.resilientcheckpoints.upload.RetryingUploader}, deletes the spill file, and returns
 *       a plain {@link FileStateHandle} or {@link RelativeFileStateHandle}. The bytes are durable in
 *       the store before the handle is returned.
 *   <li>{@link #close()} without a handle, from any thread, discards everything: the spill file, an
 *       upload in flight and what it wrote.
 * </ul>
 *
 * <p>Threading: one writer thread calls {@code write} and {@code closeAndGetHandle}; {@code close}
 * may come from any thread. {@code write} takes no lock and allocates nothing: it touches only the
 * buffer and, once per full buffer, the spill file. The lifecycle is one atomic state.
 */
public final class ResilientStateOutputStream extends CheckpointStateOutputStream {

    private static final Logger LOG = LoggerFactory.getLogger(ResilientStateOutputStream.class);

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
    private final long deadlineNanos;
    private final UploadCancellation cancellation = new UploadCancellation();

    private final byte[] buffer;
    private int pos;
    private long spilledBytes;

    private volatile int state = OPEN;
    private volatile FileOutputStream spillOut;
    private volatile java.nio.file.Path spillFile;

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
        if (inlineThreshold < 0 || bufferSize < Math.max(1, inlineThreshold)) {
            throw new IllegalArgumentException(
                    "need 0 <= inlineThreshold <= bufferSize, bufferSize >= 1: " + inlineThreshold
                            + ", " + bufferSize);
        }
        this.targetDirectory = targetDirectory;
        this.relativePathsAllowed = relativePathsAllowed;
        this.inlineThreshold = inlineThreshold;
        this.buffer = new byte[bufferSize];
        this.services = services;
        this.deadlineNanos = deadlineNanos;
    }

    // ------------------------------------------------------------------ hot path

    @Override
    public void write(int b) throws IOException {
        if (pos == buffer.length) {
            spillBuffer();
        }
        buffer[pos++] = (byte) b;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        if (len <= buffer.length - pos) {
            System.arraycopy(b, off, buffer, pos, len);
            pos += len;
            return;
        }
        // Fill the buffer, spill it, then either write a large remainder straight to the spill file
        // or start the next buffer with it.
        int head = buffer.length - pos;
        System.arraycopy(b, off, buffer, pos, head);
        pos = buffer.length;
        spillBuffer();
        off += head;
        len -= head;
        if (len >= buffer.length) {
            spillOut.write(b, off, len);
            spilledBytes += len;
        } else {
            System.arraycopy(b, off, buffer, 0, len);
            pos = len;
        }
    }

    @Override
    public long getPos() {
        return spilledBytes + pos;
    }

    /** Data becomes durable in {@link #closeAndGetHandle()}; a flush has nothing to promise before. */
    @Override
    public void flush() {}

    @Override
    public void sync() {}

    private void spillBuffer() throws IOException {
        if (state != OPEN) {
            throw new IOException("The state stream for " + targetDirectory + " is closed.");
        }
        FileOutputStream out = spillOut;
        if (out == null) {
            out = openSpillFile();
        }
        out.write(buffer, 0, pos);
        spilledBytes += pos;
        pos = 0;
    }

    private FileOutputStream openSpillFile() throws IOException {
        java.nio.file.Path file = services.spillDirectories().newSpillFile();
        spillFile = file;
        FileOutputStream out = new FileOutputStream(file.toFile());
        spillOut = out;
        services.metrics().spillFileCreated();
        if (state != OPEN) {
            // close() ran while the file was being created and could not see it.
            discardLocal();
            throw new IOException("The state stream for " + targetDirectory + " is closed.");
        }
        return out;
    }

    // ------------------------------------------------------------------ completion

    @Nullable
    @Override
    public StreamStateHandle closeAndGetHandle() throws IOException {
        if (!STATE.compareAndSet(this, OPEN, UPLOADING)) {
            throw new IOException("Stream has already been closed and discarded.");
        }
        try {
            if (spillOut == null && pos == 0) {
                finish();
                return null;
            }
            if (spillOut == null && pos <= inlineThreshold) {
                String name = UUID.randomUUID().toString();
                StreamStateHandle handle = new ByteStreamStateHandle(
                        new Path(targetDirectory, name).toString(), Arrays.copyOf(buffer, pos));
                finish();
                services.metrics().inlineHandle();
                return handle;
            }
            UploadSource source = spillOut == null ? new BufferSource(buffer, pos) : finishSpill();
            Path written = services.uploader().upload(
                    source, this::newTargetPath, deadlineNanos, cancellation);
            if (!STATE.compareAndSet(this, UPLOADING, DONE)) {
                // Discarded while the last attempt completed: the file belongs to nobody.
                deleteRemoteQuietly(written);
                throw new IOException("The state stream for " + targetDirectory
                        + " was closed while its upload completed; the upload was deleted.");
            }
            long size = source.length();
            return relativePathsAllowed && new Path(targetDirectory, written.getName()).equals(written)
                    ? new RelativeFileStateHandle(written, written.getName(), size)
                    : new FileStateHandle(written, size);
        } catch (IOException | RuntimeException | Error e) {
            STATE.set(this, DISCARDED);
            throw e;
        } finally {
            discardLocal();
        }
    }

    private void finish() {
        STATE.compareAndSet(this, UPLOADING, DONE);
    }

    private UploadSource finishSpill() throws IOException {
        FileOutputStream out = spillOut;
        if (pos > 0) {
            out.write(buffer, 0, pos);
            spilledBytes += pos;
            pos = 0;
        }
        out.close();
        services.metrics().spilled(spilledBytes);
        return new FileSource(spillFile, spilledBytes);
    }

    private Path newTargetPath() {
        return new Path(targetDirectory, UUID.randomUUID().toString());
    }

    /**
     * Discards the stream: the spill file, and an upload in progress (the uploading thread sees the
     * cancellation at once and deletes what its attempts wrote). After {@link #closeAndGetHandle()}
     * returned, the handle's owner is Flink and this does nothing.
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
        discardLocal();
    }

    /** Closes and deletes the spill file; safe to call from several threads and more than once. */
    private void discardLocal() {
        FileOutputStream out = spillOut;
        if (out != null) {
            try {
                out.close();
            } catch (IOException e) {
                LOG.debug("Could not close spill file {}", spillFile, e);
            }
        }
        java.nio.file.Path file = spillFile;
        if (file != null) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                LOG.warn("Could not delete spill file {}: {}", file, e.toString());
            }
        }
    }

    private void deleteRemoteQuietly(Path path) {
        try {
            services.uploader().store().delete(path);
        } catch (IOException | RuntimeException e) {
            LOG.warn("Could not delete discarded checkpoint file {}: {}", path, e.toString());
        }
    }

    /** For tests and diagnostics: where this stream spills, or null while in memory. */
    @Nullable
    java.nio.file.Path spillFile() {
        return spillFile;
    }

    private static final class BufferSource implements UploadSource {
        private final byte[] bytes;
        private final int length;

        BufferSource(byte[] bytes, int length) {
            this.bytes = bytes;
            this.length = length;
        }

        @Override
        public long length() {
            return length;
        }

        @Override
        public InputStream open() {
            return new ByteArrayInputStream(bytes, 0, length);
        }
    }

    private static final class FileSource implements UploadSource {
        private final java.nio.file.Path file;
        private final long length;

        FileSource(java.nio.file.Path file, long length) {
            this.file = file;
            this.length = length;
        }

        @Override
        public long length() {
            return length;
        }

        @Override
        public InputStream open() throws IOException {
            return Files.newInputStream(file);
        }
    }
}
