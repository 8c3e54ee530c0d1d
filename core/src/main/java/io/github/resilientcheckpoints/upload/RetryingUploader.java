package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Uploads one state file with retries: every attempt runs on an upload thread under a timeout and
 * writes a fresh path, failures are classified by the store, waits follow the {@link RetryPolicy},
 * and nothing is attempted or awaited past the deadline. The calling thread only waits.
 *
 * <p>Abandoned attempts (timed out, cancelled) are interrupted; their files are deleted once their
 * thread really leaves the store call, so a late write can never resurrect them. That discard, like
 * every abort and delete of something nobody owns, runs on the discard executor: never on an
 * interrupted thread, where object store clients refuse requests (the AWS SDK throws {@code
 * AbortedException}).
 */
public final class RetryingUploader {

    private static final Logger LOG = LoggerFactory.getLogger(RetryingUploader.class);

    private final UploadContext context;
    private final RetryPolicy policy;
    private final DoubleSupplier uniform;

    public RetryingUploader(
            CheckpointStore store,
            RetryPolicy policy,
            Executor executor,
            Ticker ticker,
            DoubleSupplier uniform,
            StorageMetrics metrics,
            Redactor redactor) {
        this(
                store,
                policy,
                executor,
                ticker,
                uniform,
                metrics,
                redactor,
                UploadThrottle.unlimited(ticker));
    }

    /**
     * With a fresh daemon thread for each discard task: for callers without a runtime (tests,
     * tools).
     */
    public RetryingUploader(
            CheckpointStore store,
            RetryPolicy policy,
            Executor executor,
            Ticker ticker,
            DoubleSupplier uniform,
            StorageMetrics metrics,
            Redactor redactor,
            UploadThrottle throttle) {
        this(
                store,
                policy,
                executor,
                ticker,
                uniform,
                metrics,
                redactor,
                throttle,
                THREAD_PER_DISCARD);
    }

    /** Starts a daemon thread per task: nothing to own or close, and nobody interrupts it. */
    private static final Executor THREAD_PER_DISCARD =
            task -> {
                Thread t = new Thread(task, "rcs-discard");
                t.setDaemon(true);
                t.start();
            };

    public RetryingUploader(
            CheckpointStore store,
            RetryPolicy policy,
            Executor executor,
            Ticker ticker,
            DoubleSupplier uniform,
            StorageMetrics metrics,
            Redactor redactor,
            UploadThrottle throttle,
            Executor discardExecutor) {
        this.context =
                new UploadContext(
                        store, throttle, executor, discardExecutor, metrics, ticker, redactor);
        this.policy = policy;
        this.uniform = uniform;
    }

    public static DoubleSupplier threadLocalRandom() {
        return () -> ThreadLocalRandom.current().nextDouble();
    }

    public CheckpointStore store() {
        return context.store();
    }

    /** The services this uploader's uploads share, pipelined ones included. */
    public UploadContext context() {
        return context;
    }

    /** Deletes a remote file nobody owns (a discarded stream's upload), on the discard executor. */
    public void discard(Path path) {
        context.discard(path);
    }

    /**
     * Uploads {@code source}, each attempt to a new path from {@code targets}, and returns the path
     * holding the durable bytes.
     *
     * @param deadlineNanos {@link Ticker} time after which no attempt starts and no wait ends
     * @throws CheckpointUploadException when it gives up (permanent failure, attempts or deadline
     *     exhausted), with a message naming the path, the attempts and the likely fix
     * @throws InterruptedIOException when cancelled or interrupted; the interrupt flag is kept
     */
    public Path upload(
            UploadSource source,
            Supplier<Path> targets,
            long deadlineNanos,
            UploadCancellation cancellation)
            throws IOException {
        context.metrics().uploadStarted();
        Throwable lastFailure = null;
        FailureClass lastClass = FailureClass.TRANSIENT;
        Path lastTarget = null;
        UploadDeadline deadline = UploadDeadline.at(deadlineNanos);
        for (int attempt = 1; ; attempt++) {
            if (policy.attemptTimeoutNanos(context.ticker().nanoTime(), deadlineNanos) <= 0) {
                throw giveUp(
                        RetryPolicy.GiveUpReason.DEADLINE,
                        attempt - 1,
                        lastTarget,
                        lastClass,
                        lastFailure,
                        source);
            }
            checkCancelled(cancellation, lastTarget);
            try {
                context.throttle().acquirePermit(deadlineNanos);
            } catch (UploadThrottle.ThrottleTimeoutException e) {
                throw giveUp(
                        RetryPolicy.GiveUpReason.DEADLINE,
                        attempt - 1,
                        lastTarget,
                        lastClass,
                        lastFailure == null ? e : lastFailure,
                        source);
            }
            // The budget counts from now: the wait for the permit may have used up most of it.
            long attemptBudget =
                    policy.attemptTimeoutNanos(context.ticker().nanoTime(), deadlineNanos);
            if (attemptBudget <= 0) {
                context.throttle().releasePermit();
                throw giveUp(
                        RetryPolicy.GiveUpReason.DEADLINE,
                        attempt - 1,
                        lastTarget,
                        lastClass,
                        lastFailure,
                        source);
            }
            Path target = targets.get();
            lastTarget = target;
            context.metrics().attemptStarted(attempt);
            // The store may cut a request that hangs when the attempt's time is up
            // (AttemptDeadline), so an abandoned attempt does not hold its permit for longer.
            Attempt running;
            try {
                running =
                        new Attempt(
                                context.throttled(source, deadline),
                                target,
                                System.nanoTime() + attemptBudget);
            } catch (RuntimeException e) {
                context.throttle().releasePermit();
                throw e;
            }
            boolean timedOut = false;
            try {
                CompletableFuture.anyOf(running.result(), cancellation.signal())
                        .get(attemptBudget, TimeUnit.NANOSECONDS);
                if (running.result().isDone()) {
                    Path written = running.result().join();
                    context.throttle().onSuccess();
                    context.metrics().uploadSucceeded(source.length());
                    if (attempt > 1) {
                        LOG.info(
                                "Uploaded {} ({} bytes) on attempt {}.",
                                written,
                                source.length(),
                                attempt);
                    }
                    return written;
                }
                running.abandon();
                checkCancelled(cancellation, target);
            } catch (TimeoutException e) {
                running.abandon();
                timedOut = true;
                lastFailure =
                        new IOException(
                                "attempt timed out after "
                                        + TimeUnit.NANOSECONDS.toMillis(attemptBudget)
                                        + " ms");
            } catch (ExecutionException | CompletionException e) {
                running.deleteWhenFinished();
                lastFailure = Failures.unwrap(e);
            } catch (CancellationException e) {
                running.deleteWhenFinished();
                lastFailure = e;
            } catch (InterruptedException e) {
                running.abandon();
                Thread.currentThread().interrupt();
                context.metrics().uploadCancelled();
                throw new InterruptedIOException("interrupted while uploading to " + target);
            }
            lastClass = timedOut ? FailureClass.TRANSIENT : context.classify(lastFailure);
            context.metrics().attemptFailed(lastClass, timedOut);
            if (lastClass == FailureClass.THROTTLED) {
                // Retrying without slowing down makes a throttling storm worse.
                context.throttle().onThrottled();
            }
            RetryPolicy.Decision decision =
                    policy.onFailure(
                            attempt,
                            lastClass,
                            context.ticker().nanoTime(),
                            deadlineNanos,
                            uniform);
            if (!decision.retry()) {
                throw giveUp(
                        decision.giveUpReason(), attempt, target, lastClass, lastFailure, source);
            }
            LOG.warn(
                    "Upload attempt {}/{} of {} ({} bytes) failed ({}): {}. Retrying in {} ms.",
                    attempt,
                    policy.maxAttempts(),
                    target,
                    source.length(),
                    lastClass,
                    context.redactor().describe(lastFailure),
                    TimeUnit.NANOSECONDS.toMillis(decision.delayNanos()));
            awaitBackoff(decision.delayNanos(), cancellation, target);
        }
    }

    private void awaitBackoff(long delayNanos, UploadCancellation cancellation, Path target)
            throws IOException {
        if (delayNanos <= 0) {
            return;
        }
        try {
            cancellation.signal().get(delayNanos, TimeUnit.NANOSECONDS);
        } catch (TimeoutException expected) {
            return;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            context.metrics().uploadCancelled();
            throw new InterruptedIOException(
                    "interrupted while waiting to retry upload to " + target);
        }
        checkCancelled(cancellation, target);
    }

    private void checkCancelled(UploadCancellation cancellation, Path target)
            throws InterruptedIOException {
        if (cancellation.isCancelled()) {
            context.metrics().uploadCancelled();
            throw new InterruptedIOException(
                    "upload"
                            + (target == null ? "" : " to " + target)
                            + " was cancelled: the state"
                            + " stream was closed (checkpoint aborted or task cancelled)");
        }
    }

    private CheckpointUploadException giveUp(
            RetryPolicy.GiveUpReason reason,
            int attempts,
            Path target,
            FailureClass failureClass,
            Throwable failure,
            UploadSource source) {
        context.metrics().uploadFailed(reason == RetryPolicy.GiveUpReason.DEADLINE);
        String where =
                target == null
                        ? "the checkpoint directory"
                        : "'" + context.redactor().redact(target.toString()) + "'";
        String cause =
                failure == null ? "no attempt could start" : context.redactor().describe(failure);
        String message;
        switch (reason) {
            case PERMANENT:
                message =
                        String.format(
                                "Upload of checkpoint state (%d bytes) to %s failed permanently on attempt %d;"
                                        + " retrying cannot help. The store answered: %s. Likely fix: %s.",
                                source.length(),
                                where,
                                attempts,
                                cause,
                                GenericFailureClassifier.likelyFix(failure));
                break;
            case ATTEMPTS_EXHAUSTED:
                message =
                        String.format(
                                "Upload of checkpoint state (%d bytes) to %s failed after %d attempts (the"
                                        + " maximum, '%s'). Last failure (%s): %s.",
                                source.length(),
                                where,
                                attempts,
                                ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS.key(),
                                failureClass,
                                cause);
                break;
            default:
                message =
                        String.format(
                                "Upload of checkpoint state (%d bytes) to %s gave up after %d attempt(s): the"
                                        + " checkpoint deadline ('%s' x '%s') leaves no time for another."
                                        + " Last failure (%s): %s.",
                                source.length(),
                                where,
                                attempts,
                                CheckpointingOptions.CHECKPOINTING_TIMEOUT.key(),
                                ResilientCheckpointOptions.DEADLINE_FRACTION.key(),
                                failureClass,
                                cause);
        }
        LOG.warn(message);
        return new CheckpointUploadException(message, failureClass, reason, attempts, failure);
    }

    /** One attempt; knows when its thread has really left the store and deletes what it wrote. */
    private final class Attempt {
        private final Placement placement;
        private final AttemptRun<Path> run;

        /** Starts the attempt on an upload thread; it holds the caller's upload permit. */
        Attempt(UploadSource source, Path target, long attemptDeadlineNanos) {
            this.placement = new Placement(target);
            // The permit is held until the thread really leaves the store: an abandoned attempt
            // still occupies a connection.
            this.run =
                    AttemptRun.start(
                            context.executor(),
                            attemptDeadlineNanos,
                            () -> context.store().upload(source, placement.resolve()),
                            context.throttle()::releasePermit);
        }

        CompletableFuture<Path> result() {
            return run.result();
        }

        /** Gives the attempt up (interrupted) and deletes whatever it wrote once it has stopped. */
        void abandon() {
            run.cancel();
            deleteWhenFinished();
        }

        /**
         * Deletes the attempt's file once its thread has left the store call, on the discard
         * executor: the attempt's thread may be interrupted (it was abandoned), and so may the
         * caller's. With entropy injection the file is where the store resolved the target to, not
         * the target itself.
         */
        void deleteWhenFinished() {
            run.finished()
                    .whenComplete(
                            (ignored, error) ->
                                    context.discardInBackground(
                                            "delete of abandoned upload " + placement.target,
                                            () -> {
                                                CompletableFuture<Path> result = run.result();
                                                Path written =
                                                        result.isDone()
                                                                        && !result
                                                                                .isCompletedExceptionally()
                                                                ? result.join()
                                                                : null;
                                                Path where = placement.written();
                                                deleteAbandoned(where);
                                                if (written != null && !written.equals(where)) {
                                                    deleteAbandoned(written);
                                                }
                                            }));
        }

        private void deleteAbandoned(Path path) {
            try {
                context.store().delete(path);
            } catch (IOException | RuntimeException e) {
                LOG.debug("Could not delete abandoned upload {}", path, e);
            }
        }
    }

    /**
     * An attempt's target and where the store said it would really write it (entropy injection).
     */
    private final class Placement {
        final Path target;
        private volatile Path resolved;

        Placement(Path target) {
            this.target = target;
        }

        /** Called on the attempt's thread, before anything is written. */
        Path resolve() throws IOException {
            Path where = context.store().resolveTarget(target);
            resolved = where;
            return where;
        }

        /** Where the attempt may have written. */
        Path written() {
            Path where = resolved;
            return where == null ? target : where;
        }
    }
}
