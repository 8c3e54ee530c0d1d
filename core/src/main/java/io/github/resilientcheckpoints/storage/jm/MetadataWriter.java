package io.github.resilientcheckpoints.storage.jm;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.store.SupportsExclusiveCreate;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.DoubleSupplier;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.filesystem.FsCheckpointMetadataOutputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes one checkpoint's {@code _metadata} to its exact path through a {@link CheckpointStore},
 * retrying with the storage's {@link RetryPolicy} and the store's classification until the
 * checkpoint's deadline or the max-blocking bound, whichever comes first (Flink writes it under the
 * checkpoint coordinator's lock).
 *
 * <p>Unlike state files, {@code _metadata} has a fixed name, so every attempt targets the same
 * path, and an existing {@code _metadata} is never replaced (Flink refuses it too). One attempt at
 * a time: an attempt that overran its time is interrupted and awaited before the next one starts.
 * How an attempt commits depends on the store:
 *
 * <ul>
 *   <li>a store with {@link SupportsExclusiveCreate} (S3: {@code If-None-Match: *}; HDFS: a rename
 *       that never replaces): an existing file is refused atomically; on a retry, one holding
 *       exactly our bytes is an earlier attempt of ours whose answer was lost;
 *   <li>the generic store ({@link FlinkFileSystemStore}): exactly what Flink does, Flink's own
 *       {@link FsCheckpointMetadataOutputStream}, after a check that nothing is there (as Flink's
 *       own check, not atomic); a retry deletes what a failed attempt of ours left;
 *   <li>any other store: the same check, then its upload to the exact path.
 * </ul>
 *
 * <p>An attempt that commits after the caller gave up deletes its file again ({@link CommitFence}).
 */
public final class MetadataWriter {

    private static final Logger LOG = LoggerFactory.getLogger(MetadataWriter.class);

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
    private final long maxBlockingNanos;

    /**
     * @param attemptRunner runs each attempt on a thread of its own (the runtime's daemon threads),
     *     so that a hanging store cannot hold the caller past the deadline; tests may run them
     *     inline
     * @param maxBlockingNanos longest one {@link #write} may take, retries included: it runs under
     *     Flink's checkpoint-coordinator lock
     */
    public MetadataWriter(
            CheckpointStore store,
            RetryPolicy policy,
            Ticker ticker,
            Sleeper sleeper,
            DoubleSupplier jitter,
            StorageMetrics metrics,
            Redactor redactor,
            Executor attemptRunner,
            long maxBlockingNanos) {
        this(
                new StoreRetries(store, policy, ticker, sleeper, jitter, redactor, attemptRunner),
                metrics,
                maxBlockingNanos);
    }

    MetadataWriter(StoreRetries retries, StorageMetrics metrics, long maxBlockingNanos) {
        this.retries = retries;
        this.store = retries.store();
        this.metrics = metrics;
        this.generic = store instanceof FlinkFileSystemStore;
        this.commit = generic ? MetadataWriter::flinkCommit : this::storeCommit;
        this.maxBlockingNanos = maxBlockingNanos;
    }

    /**
     * Writes {@code bytes} to {@code target} and returns once they are durable there. Never
     * replaces an existing file. Takes at most the max-blocking time (Flink calls it under the
     * checkpoint coordinator's lock, which cancel, stop and failover wait for) and never runs past
     * {@code deadlineNanos}.
     *
     * @throws InterruptedIOException when the calling thread is interrupted (flag restored)
     * @throws IOException naming the path, the store's last answer and the likely fix, when a
     *     permanent failure, the attempt cap, the blocking bound or the deadline ends the retries
     */
    public void write(byte[] bytes, Path target, long deadlineNanos) throws IOException {
        long now = retries.ticker().nanoTime();
        long bound = now + maxBlockingNanos < now ? Long.MAX_VALUE : now + maxBlockingNanos;
        StoreRetries.Operation op =
                new StoreRetries.Operation(
                        "write checkpoint metadata to",
                        target.toString(),
                        metrics::metadataAttemptStarted,
                        metrics::metadataWritten,
                        metrics::metadataWriteFailed,
                        t -> t instanceof MetadataExists);
        Optional<SupportsExclusiveCreate> exclusive =
                generic ? Optional.empty() : store.capability(SupportsExclusiveCreate.class);
        CommitFence fence = new CommitFence(target);
        // Set once an attempt saw no file at the target: whatever is there later is ours.
        AtomicBoolean absenceSeen = new AtomicBoolean();
        try {
            retries.call(
                    op,
                    attempt -> {
                        if (exclusive.isPresent()) {
                            createExclusive(exclusive.get(), bytes, target, attempt);
                        } else {
                            if (absenceSeen.get()) {
                                // Only a failed attempt of ours can have left something here.
                                store.delete(target);
                            } else {
                                refuseExisting(target);
                                absenceSeen.set(true);
                            }
                            commit.write(bytes, target);
                        }
                        fence.committed();
                        return null;
                    },
                    Math.min(deadlineNanos, bound));
        } catch (IOException | RuntimeException e) {
            if (fence.abandon()) {
                throw e;
            }
            // The last attempt committed while the wait for it ended: the bytes are durable.
            LOG.info("Checkpoint metadata {} was written by an attempt that finished late", target);
        }
    }

    /**
     * A store that can write only where nothing exists: an existing file is refused, unless it
     * holds exactly our bytes after an attempt of ours (which then committed, but its answer was
     * lost).
     */
    private static void createExclusive(
            SupportsExclusiveCreate exclusive, byte[] bytes, Path target, int attempt)
            throws IOException {
        try {
            exclusive.createExclusive(UploadSource.of(bytes), target);
        } catch (FileAlreadyExistsException e) {
            if (attempt > 1 && holds(target, bytes)) {
                return;
            }
            throw new MetadataExists(target);
        }
    }

    private static boolean holds(Path target, byte[] bytes) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(target.toUri());
        try (InputStream in = fs.open(target)) {
            byte[] found = in.readNBytes(bytes.length + 1);
            return Arrays.equals(found, bytes);
        }
    }

    /**
     * Settles the race between an attempt that commits and the caller that stops waiting for it (an
     * attempt may outlive its wait when the store ignores the interrupt): exactly one of them wins.
     * An attempt that commits after the caller gave up deletes what it wrote, so no {@code
     * chk-N/_metadata} of a failed checkpoint is left for cleanup to honour as a completed one.
     */
    private final class CommitFence {
        private static final int RUNNING = 0;
        private static final int COMMITTED = 1;
        private static final int ABANDONED = 2;
        private final AtomicInteger state = new AtomicInteger(RUNNING);
        private final Path target;

        CommitFence(Path target) {
            this.target = target;
        }

        /** On the attempt thread, right after its commit. */
        void committed() throws IOException {
            if (state.compareAndSet(RUNNING, COMMITTED)) {
                return;
            }
            // The caller has already failed this checkpoint: take the late file back.
            boolean interrupted = Thread.interrupted();
            try {
                store.delete(target);
                LOG.warn(
                        "An abandoned attempt wrote checkpoint metadata {} after its checkpoint had"
                                + " failed; deleted it again",
                        target);
            } catch (IOException | RuntimeException e) {
                LOG.warn(
                        "An abandoned attempt wrote checkpoint metadata {} after its checkpoint had"
                                + " failed and it could not be deleted ({}); it is not referenced"
                                + " by any completed checkpoint",
                        target,
                        e.toString());
            } finally {
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
            throw new IOException("the checkpoint gave up on this attempt before it committed");
        }

        /** On the caller, giving up: true if no attempt has committed (none may from now on). */
        boolean abandon() {
            return state.compareAndSet(RUNNING, ABANDONED) || state.get() == ABANDONED;
        }
    }

    /** Another run's {@code _metadata} (a reused job id): never replaced. */
    static final class MetadataExists extends FileAlreadyExistsException {
        private static final long serialVersionUID = 1L;

        MetadataExists(Path target) {
            super(
                    target.toString(),
                    null,
                    "a checkpoint metadata file already exists there and is never overwritten"
                            + " (another run of a job with the same job id?)");
        }
    }

    /**
     * A {@code _metadata} that exists before our first attempt is someone else's: never deleted or
     * overwritten (Flink refuses it too). Permanent, so the checkpoint fails at once.
     */
    private static void refuseExisting(Path target) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(target.toUri());
        if (fs.exists(target)) {
            throw new MetadataExists(target);
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
        Path written = store.upload(UploadSource.of(bytes), target);
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
}
