package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
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
    private final RetryLoop loop;

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
        this.loop =
                new RetryLoop(
                        policy,
                        RetryLoop.Overrun.ABANDON,
                        executor,
                        ticker,
                        Sleeper.SYSTEM,
                        uniform);
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
        return loop.run(
                new FileUpload(source, targets, UploadDeadline.at(deadlineNanos)),
                deadlineNanos,
                cancellation.signal());
    }

    /** One {@link #upload}: the loop's view of it. */
    private final class FileUpload implements RetryLoop.Operation<Path> {
        private final UploadSource source;
        private final Supplier<Path> targets;
        private final UploadDeadline deadline;
        private Path lastTarget;

        FileUpload(UploadSource source, Supplier<Path> targets, UploadDeadline deadline) {
            this.source = source;
            this.targets = targets;
            this.deadline = deadline;
        }

        @Override
        public RetryLoop.Admission admit(long deadlineNanos) throws IOException {
            try {
                context.throttle().acquirePermit(deadlineNanos);
                return RetryLoop.Admission.GRANTED;
            } catch (UploadThrottle.ThrottleTimeoutException e) {
                return RetryLoop.Admission.refused(e);
            }
        }

        /**
         * The permit is held until the attempt's thread really leaves the store: an abandoned
         * attempt still occupies a connection.
         */
        @Override
        public void attemptEnded() {
            context.throttle().releasePermit();
        }

        @Override
        public void notStarted() {
            context.throttle().releasePermit();
        }

        @Override
        public RetryLoop.Attempt<Path> attempt(int attempt) {
            lastTarget = targets.get();
            context.metrics().attemptStarted(attempt);
            return new Attempt(context.throttled(source, deadline), lastTarget);
        }

        @Override
        public void succeeded(int attempt, Path written) {
            context.throttle().onSuccess();
            context.metrics().uploadSucceeded(source.length());
            if (attempt > 1) {
                LOG.info(
                        "Uploaded {} ({} bytes) on attempt {}.", written, source.length(), attempt);
            }
        }

        @Override
        public FailureClass classify(Throwable failure) {
            return context.classify(failure);
        }

        @Override
        public void failed(int attempt, FailureClass failureClass, boolean timedOut) {
            context.metrics().attemptFailed(failureClass, timedOut);
            if (failureClass == FailureClass.THROTTLED) {
                // Retrying without slowing down makes a throttling storm worse.
                context.throttle().onThrottled();
            }
        }

        @Override
        public void retrying(
                int attempt, FailureClass failureClass, Throwable failure, long delayNanos) {
            LOG.warn(
                    "Upload attempt {}/{} of {} ({} bytes) failed ({}): {}. Retrying in {} ms.",
                    attempt,
                    policy.maxAttempts(),
                    lastTarget,
                    source.length(),
                    failureClass,
                    context.redactor().describe(failure),
                    TimeUnit.NANOSECONDS.toMillis(delayNanos));
        }

        @Override
        public IOException giveUp(
                RetryPolicy.GiveUpReason reason,
                int attempts,
                FailureClass lastClass,
                Throwable last) {
            return RetryingUploader.this.giveUp(
                    reason, attempts, lastTarget, lastClass, last, source);
        }

        @Override
        public InterruptedIOException cancelled(boolean interrupted) {
            context.metrics().uploadCancelled();
            String to = lastTarget == null ? "" : " to " + lastTarget;
            return new InterruptedIOException(
                    interrupted
                            ? "interrupted while uploading" + to
                            : "upload"
                                    + to
                                    + " was cancelled: the state stream was closed (checkpoint"
                                    + " aborted or task cancelled)");
        }

        @Override
        public IOException didNotStop() {
            // Abandoned attempts are never awaited (RetryLoop.Overrun.ABANDON).
            return new IOException("an abandoned upload attempt to " + lastTarget + " was awaited");
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
    private final class Attempt implements RetryLoop.Attempt<Path> {
        private final UploadSource source;
        private final Placement placement;

        Attempt(UploadSource source, Path target) {
            this.source = source;
            this.placement = new Placement(target);
        }

        @Override
        public Path call() throws IOException {
            return context.store().upload(source, placement.resolve());
        }

        /**
         * Deletes the attempt's file once its thread has left the store call, on the discard
         * executor: the attempt's thread may be interrupted (it was abandoned), and so may the
         * caller's. With entropy injection the file is where the store resolved the target to, not
         * the target itself.
         */
        @Override
        public void lost(AttemptRun<Path> run) {
            run.finished()
                    .whenComplete(
                            (ignored, error) ->
                                    context.discardInBackground(
                                            "delete of abandoned upload " + placement.target,
                                            () -> discardWritten(run)));
        }

        private void discardWritten(AttemptRun<Path> run) {
            CompletableFuture<Path> result = run.result();
            Path written =
                    result.isDone() && !result.isCompletedExceptionally() ? result.join() : null;
            Path where = placement.written();
            deleteAbandoned(where);
            if (written != null && !written.equals(where)) {
                deleteAbandoned(written);
            }
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
