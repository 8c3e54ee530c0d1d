package io.github.resilientcheckpoints.storage.jm;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.Sleeper;
import io.github.resilientcheckpoints.upload.Ticker;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.filesystem.FsCheckpointMetadataOutputStream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.DoubleSupplier;

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
 *   <li>any other store: its upload, which for the S3 store is one PutObject or multipart upload
 *       to the exact key (atomic overwrite) and for the HDFS store temp file + hsync + rename.
 * </ul>
 */
public final class MetadataWriter {

    private static final Logger LOG = LoggerFactory.getLogger(MetadataWriter.class);

    /** One attempt: write all bytes to the target, durable and visible only when complete. */
    @FunctionalInterface
    interface Commit {
        void write(byte[] bytes, Path target) throws IOException;
    }

    private final CheckpointStore store;
    private final RetryPolicy policy;
    private final Ticker ticker;
    private final Sleeper sleeper;
    private final DoubleSupplier jitter;
    private final StorageMetrics metrics;
    private final Redactor redactor;
    private final Executor attemptRunner;
    private final Commit commit;
    private final boolean generic;

    /**
     * @param attemptRunner runs each attempt on a thread of its own (the runtime's daemon threads), so
     *     that a hanging store cannot hold the caller past the deadline; tests may run them inline
     */
    public MetadataWriter(CheckpointStore store, RetryPolicy policy, Ticker ticker, Sleeper sleeper,
            DoubleSupplier jitter, StorageMetrics metrics, Redactor redactor, Executor attemptRunner) {
        this.store = store;
        this.policy = policy;
        this.ticker = ticker;
        this.sleeper = sleeper;
        this.jitter = jitter;
        this.metrics = metrics;
        this.redactor = redactor;
        this.attemptRunner = attemptRunner;
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
        int attempt = 0;
        while (true) {
            if (Thread.currentThread().isInterrupted()) {
                throw interrupted(target);
            }
            attempt++;
            long now = ticker.nanoTime();
            long attemptBudget = policy.attemptTimeoutNanos(now, deadlineNanos);
            if (attemptBudget <= 0) {
                throw failure(target, attempt - 1, RetryPolicy.GiveUpReason.DEADLINE, null, deadlineNanos);
            }
            metrics.metadataAttemptStarted(attempt);
            final boolean retry = attempt > 1;
            Throwable failed;
            FailureClass failureClass;
            try {
                runAttempt(() -> {
                    if (retry) {
                        // Same name every time: clear what the failed attempt may have left.
                        store.delete(target);
                    } else if (generic) {
                        refuseExisting(target);
                    }
                    commit.write(bytes, target);
                }, attemptBudget, deadlineNanos, target);
                metrics.metadataWritten();
                if (retry) {
                    LOG.info("Checkpoint metadata {} written on attempt {}", target, attempt);
                }
                return;
            } catch (InterruptedIOException e) {
                throw e;
            } catch (AttemptTimedOut e) {
                failed = e;
                failureClass = FailureClass.TRANSIENT;
            } catch (IOException | RuntimeException e) {
                failed = e;
                failureClass = store.classify(e);
            }
            RetryPolicy.Decision decision =
                    policy.onFailure(attempt, failureClass, ticker.nanoTime(), deadlineNanos, jitter);
            if (!decision.retry()) {
                metrics.metadataWriteFailed();
                throw failure(target, attempt, decision.giveUpReason(), failed, deadlineNanos);
            }
            LOG.warn("Writing checkpoint metadata {} failed on attempt {} ({}): {}; retrying in {} ms",
                    redactor.redact(target.toString()), attempt, failureClass, redactor.describe(failed),
                    TimeUnit.NANOSECONDS.toMillis(decision.delayNanos()));
            try {
                sleeper.sleepNanos(decision.delayNanos());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw interrupted(target);
            }
        }
    }

    private interface Body {
        void run() throws IOException;
    }

    /** Runs one attempt on an attempt thread, waiting at most {@code budgetNanos} for it. */
    private void runAttempt(Body body, long budgetNanos, long deadlineNanos, Path target) throws IOException {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread[] runner = new Thread[1];
        Object lock = new Object();
        attemptRunner.execute(() -> {
            synchronized (lock) {
                runner[0] = Thread.currentThread();
            }
            try {
                body.run();
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            } finally {
                synchronized (lock) {
                    runner[0] = null;
                    // Never leave an interrupt behind on a pooled thread.
                    Thread.interrupted();
                }
            }
        });
        try {
            done.get(budgetNanos, TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException) {
                throw (IOException) cause;
            }
            if (cause instanceof RuntimeException) {
                throw (RuntimeException) cause;
            }
            throw new IOException(cause);
        } catch (TimeoutException e) {
            interrupt(lock, runner);
            // The next attempt writes the same path: it may only start once this one has ended.
            long left = deadlineNanos - ticker.nanoTime();
            try {
                done.handle((v, t) -> null).get(Math.max(0, left), TimeUnit.NANOSECONDS);
            } catch (TimeoutException stillRunning) {
                throw new IOException("an attempt to write " + target + " did not end within its time"
                        + " and did not stop when interrupted before the checkpoint deadline");
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw interrupted(target);
            } catch (ExecutionException ignored) {
                // handle() never completes exceptionally
            }
            throw new AttemptTimedOut("the attempt took longer than "
                    + Duration.ofNanos(budgetNanos).toMillis() + " ms and was interrupted");
        } catch (InterruptedException e) {
            interrupt(lock, runner);
            Thread.currentThread().interrupt();
            throw interrupted(target);
        }
    }

    private static void interrupt(Object lock, Thread[] runner) {
        synchronized (lock) {
            if (runner[0] != null) {
                runner[0].interrupt();
            }
        }
    }

    private InterruptedIOException interrupted(Path target) {
        return new InterruptedIOException("writing checkpoint metadata " + redactor.redact(target.toString())
                + " was interrupted (the checkpoint was cancelled or the JobManager is shutting down)");
    }

    private IOException failure(Path target, int attempts, RetryPolicy.GiveUpReason reason, Throwable last,
            long deadlineNanos) {
        String why;
        String fix;
        switch (reason) {
            case PERMANENT:
                why = "the store refused it permanently";
                // _metadata is written by the JobManager, not by a TaskManager.
                fix = GenericFailureClassifier.likelyFix(last).replace("TaskManager's", "JobManager's");
                break;
            case ATTEMPTS_EXHAUSTED:
                why = "all " + attempts + " attempts failed";
                fix = "the store is failing persistently; check its health, or raise"
                        + " 'resilient-checkpoints.retry.max-attempts'";
                break;
            default:
                why = "the checkpoint deadline (checkpoint timeout x deadline fraction) passed after "
                        + attempts + " attempt(s)";
                fix = "the store is too slow or failing; check its health, or raise"
                        + " 'execution.checkpointing.timeout'";
                break;
        }
        String answer = last == null ? "no answer before the deadline" : redactor.describe(last);
        IOException e = new IOException("Could not write checkpoint metadata to "
                + redactor.redact(target.toString()) + ": " + why + " (store '" + store.name() + "'). Last answer: "
                + answer + ". Fix: " + fix + ".");
        // No cause: its message would bypass the redaction above.
        return e;
    }

    /**
     * A {@code _metadata} that exists before our first attempt is someone else's: never deleted or
     * overwritten (Flink refuses it too). Permanent, so the checkpoint fails at once.
     */
    private static void refuseExisting(Path target) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(target.toUri());
        if (fs.exists(target)) {
            throw new java.nio.file.FileAlreadyExistsException(target.toString(), null,
                    "a checkpoint metadata file already exists there and is never overwritten");
        }
    }

    /** The generic store: Flink's own metadata stream, so the result is what Flink would write. */
    private static void flinkCommit(byte[] bytes, Path target) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(target.toUri());
        FsCheckpointMetadataOutputStream out = new FsCheckpointMetadataOutputStream(fs, target, target.getParent());
        try {
            out.write(bytes, 0, bytes.length);
            out.closeAndFinalizeCheckpoint();
        } finally {
            out.close();
        }
    }

    /** Any other store: its upload to the exact path (S3: atomic put; HDFS: temp + hsync + rename). */
    private void storeCommit(byte[] bytes, Path target) throws IOException {
        Path written = store.upload(new BytesSource(bytes), target);
        if (!target.equals(written)) {
            try {
                store.delete(written);
            } catch (IOException ignored) {
                // found by cleanup
            }
            throw new IllegalStateException("store '" + store.name() + "' wrote checkpoint metadata to "
                    + written + " instead of " + target + "; _metadata must be at the exact path");
        }
    }

    /** An attempt overran the per-attempt timeout (and was interrupted and has ended). */
    static final class AttemptTimedOut extends IOException {
        private static final long serialVersionUID = 1L;

        AttemptTimedOut(String message) {
            super(message);
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
