package io.github.resilientcheckpoints.storage.jm;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.util.concurrent.Executor;
import java.util.function.DoubleSupplier;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.filesystem.FsCheckpointMetadataOutputStream;

/**
 * Writes one checkpoint's {@code _metadata} to its exact path through a {@link CheckpointStore},
 * retrying with the storage's {@link RetryPolicy} and the store's classification until the
 * checkpoint's deadline.
 *
 * <p>Unlike state files, {@code _metadata} has a fixed name, so every attempt targets the same
 * path: before a retry, whatever a failed attempt may have left there is deleted. One attempt at a
 * time: an attempt that overran its time is interrupted and awaited before the next one starts, so
 * an abandoned attempt can never delete or overwrite the result of a later one. How an attempt
 * commits depends on the store:
 *
 * <ul>
 *   <li>the generic store ({@link FlinkFileSystemStore}): exactly what Flink does, Flink's own
 *       {@link FsCheckpointMetadataOutputStream} (a recoverable writer, i.e. temp file + commit,
 *       where the file system has one; else a plain file, deleted on failure);
 *   <li>any other store: its upload, which for the S3 store is one PutObject or multipart upload to
 *       the exact key (atomic overwrite) and for the HDFS store temp file + hsync + rename.
 * </ul>
 */
public final class MetadataWriter {

    /** One attempt: write all bytes to the target, durable and visible only when complete. */
    @FunctionalInterface
    interface Commit {
        void write(byte[] bytes, Path target) throws IOException;
    }

    private final StoreRetries retries;
    private final CheckpointStore store;
    private final StorageMetrics metrics;
    private final Commit commit;
    private final boolean generic;

    /**
     * @param attemptRunner runs each attempt on a thread of its own (the runtime's daemon threads),
     *     so that a hanging store cannot hold the caller past the deadline; tests may run them
     *     inline
     */
    public MetadataWriter(
            CheckpointStore store,
            RetryPolicy policy,
            Ticker ticker,
            Sleeper sleeper,
            DoubleSupplier jitter,
            StorageMetrics metrics,
            Redactor redactor,
            Executor attemptRunner) {
        this(
                new StoreRetries(store, policy, ticker, sleeper, jitter, redactor, attemptRunner),
                metrics);
    }

    MetadataWriter(StoreRetries retries, StorageMetrics metrics) {
        this.retries = retries;
        this.store = retries.store();
        this.metrics = metrics;
        this.generic = store instanceof FlinkFileSystemStore;
        this.commit = generic ? MetadataWriter::flinkCommit : this::storeCommit;
    }

    /**
     * Writes {@code bytes} to {@code target} and returns once they are durable there.
     *
     * @throws InterruptedIOException when the calling thread is interrupted (flag restored)
     * @throws IOException naming the path, the store's last answer and the likely fix, when a
     *     permanent failure, the attempt cap or the deadline ends the retries
     */
    public void write(byte[] bytes, Path target, long deadlineNanos) throws IOException {
        StoreRetries.Operation op =
                new StoreRetries.Operation(
                        "write checkpoint metadata to",
                        target.toString(),
                        metrics::metadataAttemptStarted,
                        metrics::metadataWritten,
                        metrics::metadataWriteFailed);
        retries.call(
                op,
                attempt -> {
                    if (attempt > 1) {
                        // Same name every time: clear what the failed attempt may have left.
                        store.delete(target);
                    } else if (generic) {
                        refuseExisting(target);
                    }
                    commit.write(bytes, target);
                    return null;
                },
                deadlineNanos);
    }

    /**
     * A {@code _metadata} that exists before our first attempt is someone else's: never deleted or
     * overwritten (Flink refuses it too). Permanent, so the checkpoint fails at once.
     */
    private static void refuseExisting(Path target) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(target.toUri());
        if (fs.exists(target)) {
            throw new FileAlreadyExistsException(
                    target.toString(),
                    null,
                    "a checkpoint metadata file already exists there and is never overwritten");
        }
    }

    /** The generic store: Flink's own metadata stream, so the result is what Flink would write. */
    private static void flinkCommit(byte[] bytes, Path target) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(target.toUri());
        FsCheckpointMetadataOutputStream out =
                new FsCheckpointMetadataOutputStream(fs, target, target.getParent());
        try {
            out.write(bytes, 0, bytes.length);
            out.closeAndFinalizeCheckpoint();
        } finally {
            out.close();
        }
    }

    /**
     * Any other store: its upload to the exact path (S3: atomic put; HDFS: temp + hsync + rename).
     */
    private void storeCommit(byte[] bytes, Path target) throws IOException {
        Path written = store.upload(new BytesSource(bytes), target);
        if (!target.equals(written)) {
            try {
                store.delete(written);
            } catch (IOException ignored) {
                // found by cleanup
            }
            throw new IllegalStateException(
                    "store '"
                            + store.name()
                            + "' wrote checkpoint metadata to "
                            + written
                            + " instead of "
                            + target
                            + "; _metadata must be at the exact path");
        }
    }

    private static final class BytesSource implements UploadSource {
        private final byte[] bytes;

        BytesSource(byte[] bytes) {
            this.bytes = bytes;
        }

        @Override
        public long length() {
            return bytes.length;
        }

        @Override
        public InputStream open() {
            return new ByteArrayInputStream(bytes);
        }
    }
}
