package io.github.resilientcheckpoints.storage.jm;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.filesystem.FsCompletedCheckpointStorageLocation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The JobManager's {@code _metadata} stream: the bytes are buffered in memory (metadata is small)
 * and written by {@link MetadataWriter} on {@link #closeAndFinalizeCheckpoint()} — retried, to the
 * exact path, bounded by the checkpoint's deadline. The result is Flink's own {@link
 * FsCompletedCheckpointStorageLocation} (as {@link JobManagerCompletedLocation}, whose disposal is
 * retried) over a plain {@code _metadata} file, so the checkpoint stays restorable by vanilla
 * Flink.
 *
 * <p>Past {@code maxBufferedBytes} (metadata with very many inline state handles) the stream hands
 * over to Flink's own {@link FsCheckpointMetadataOutputStream}: what Flink does today, without
 * retries, rather than unbounded memory on the JobManager.
 */
public final class ResilientMetadataOutputStream extends CheckpointMetadataOutputStream {

    private static final Logger LOG = LoggerFactory.getLogger(ResilientMetadataOutputStream.class);

    private final MetadataWriter writer;
    private final Path metadataPath;
    private final Path exclusiveCheckpointDir;
    private final long deadlineNanos;
    private final int maxBufferedBytes;
    private final LocationDeletes deletes;

    private ByteArrayOutputStream buffer = new ByteArrayOutputStream(4096);
    private FsCheckpointMetadataOutputStream overflow;
    private boolean closed;

    ResilientMetadataOutputStream(
            MetadataWriter writer,
            Path metadataPath,
            Path exclusiveCheckpointDir,
            long deadlineNanos,
            int maxBufferedBytes,
            LocationDeletes deletes) {
        this.writer = writer;
        this.deletes = deletes;
        this.metadataPath = metadataPath;
        this.exclusiveCheckpointDir = exclusiveCheckpointDir;
        this.deadlineNanos = deadlineNanos;
        this.maxBufferedBytes = maxBufferedBytes;
    }

    @Override
    public void write(int b) throws IOException {
        checkOpen();
        if (overflow == null && buffer.size() + 1 > maxBufferedBytes) {
            handOver();
        }
        if (overflow != null) {
            overflow.write(b);
        } else {
            buffer.write(b);
        }
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        checkOpen();
        if (overflow == null && (long) buffer.size() + len > maxBufferedBytes) {
            handOver();
        }
        if (overflow != null) {
            overflow.write(b, off, len);
        } else {
            buffer.write(b, off, len);
        }
    }

    private void handOver() throws IOException {
        LOG.warn(
                "Checkpoint metadata {} is larger than {} bytes: written through Flink's own stream,"
                        + " without retries",
                metadataPath,
                maxBufferedBytes);
        FileSystem fs = FileSystem.getUnguardedFileSystem(metadataPath.toUri());
        overflow = new FsCheckpointMetadataOutputStream(fs, metadataPath, exclusiveCheckpointDir);
        buffer.writeTo(overflow);
        buffer = null;
    }

    @Override
    public long getPos() throws IOException {
        return overflow != null ? overflow.getPos() : buffer == null ? 0 : buffer.size();
    }

    @Override
    public void flush() throws IOException {
        if (overflow != null) {
            overflow.flush();
        }
    }

    /**
     * Nothing to make durable before {@link #closeAndFinalizeCheckpoint()}: that is where it is
     * written.
     */
    @Override
    public void sync() throws IOException {
        if (overflow != null) {
            overflow.sync();
        }
    }

    @Override
    public FsCompletedCheckpointStorageLocation closeAndFinalizeCheckpoint() throws IOException {
        synchronized (this) {
            checkOpen();
            closed = true;
            if (overflow != null) {
                return overflow.closeAndFinalizeCheckpoint();
            }
            byte[] bytes = buffer.toByteArray();
            buffer = null;
            writer.write(bytes, metadataPath, deadlineNanos);
            FileStateHandle handle = new FileStateHandle(metadataPath, bytes.length);
            return new JobManagerCompletedLocation(
                    FileSystem.getUnguardedFileSystem(metadataPath.toUri()),
                    exclusiveCheckpointDir,
                    handle,
                    metadataPath.getParent().toString(),
                    deletes);
        }
    }

    /**
     * Without {@link #closeAndFinalizeCheckpoint()}: the checkpoint failed; nothing was written.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (!closed) {
                closed = true;
                buffer = null;
                if (overflow != null) {
                    overflow.close();
                }
            }
        }
    }

    private void checkOpen() throws IOException {
        if (closed) {
            throw new IOException("Metadata stream for " + metadataPath + " is already closed");
        }
    }
}
