package io.github.resilientcheckpoints.storage.jm;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.store.AttemptDeadline;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.AttemptRun;
import io.github.resilientcheckpoints.upload.Failures;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.DoubleSupplier;
import java.util.function.IntConsumer;
import java.util.function.Predicate;
import org.apache.flink.configuration.CheckpointingOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The JobManager's retry loop for one store operation on one path ({@code _metadata} writes, the
 * creation of checkpoint and savepoint directories, the deletes of checkpoint locations): the
 * storage's {@link RetryPolicy}, the store's {@link CheckpointStore#classify classification}, and a
 * deadline no attempt or wait crosses.
 *
 * <p>Each attempt runs on a thread of the attempt executor, and the caller waits for it at most the
 * per-attempt timeout (never past the deadline), and, unless it is the last attempt allowed, at
 * most half of the time left: a hanging store cannot hold the checkpoint coordinator, and one
 * request that is never answered does not use up the whole bound. The attempt's end is the thread's
 * {@link AttemptDeadline}, so a store that can cut a request cuts it then. An attempt that overran
 * is interrupted and awaited before the next one starts, so attempts on the same path never
 * overlap.
 */
final class StoreRetries {

    private static final Logger LOG = LoggerFactory.getLogger(StoreRetries.class);

    /** One attempt (1-based number), on an attempt thread. */
    @FunctionalInterface
    interface Attempt<T> {
        T run(int attempt) throws IOException;
    }

    /**
     * What is done and to which path, for logs and errors ("write checkpoint metadata to", "create
     * checkpoint directory"), the counters it moves, and failures that retrying this operation
     * cannot help whatever the store says (none by default).
     */
    record Operation(
            String what,
            String path,
            IntConsumer attemptStarted,
            Runnable succeeded,
            Runnable failed,
            Predicate<Throwable> hopeless) {

        Operation(
                String what,
                String path,
                IntConsumer attemptStarted,
                Runnable succeeded,
                Runnable failed) {
            this(what, path, attemptStarted, succeeded, failed, t -> false);
        }
    }

    private final CheckpointStore store;
    private final RetryPolicy policy;
    private final Ticker ticker;
    private final Sleeper sleeper;
    private final DoubleSupplier jitter;
    private final Redactor redactor;
    private final Executor attemptRunner;

    StoreRetries(
            CheckpointStore store,
            RetryPolicy policy,
            Ticker ticker,
            Sleeper sleeper,
            DoubleSupplier jitter,
            Redactor redactor,
            Executor attemptRunner) {
        this.store = store;
        this.policy = policy;
        this.ticker = ticker;
        this.sleeper = sleeper;
        this.jitter = jitter;
        this.redactor = redactor;
        this.attemptRunner = attemptRunner;
    }

    CheckpointStore store() {
        return store;
    }

    Ticker ticker() {
        return ticker;
    }

    /**
     * Runs {@code body} until it succeeds, a failure is permanent, the attempts run out or the
     * deadline passes.
     *
     * @throws InterruptedIOException when the calling thread is interrupted (flag restored)
     * @throws IOException naming the operation, the path, the store's last answer and the likely
     *     fix
     */
    <T> T call(Operation op, Attempt<T> body, long deadlineNanos) throws IOException {
        int attempt = 0;
        while (true) {
            if (Thread.currentThread().isInterrupted()) {
                throw interrupted(op);
            }
            attempt++;
            long attemptBudget =
                    attemptBudget(
                            attempt, policy.attemptTimeoutNanos(ticker.nanoTime(), deadlineNanos));
            if (attemptBudget <= 0) {
                op.failed().run();
                throw failure(op, attempt - 1, RetryPolicy.GiveUpReason.DEADLINE, null);
            }
            op.attemptStarted().accept(attempt);
            Throwable failed;
            FailureClass failureClass;
            try {
                final int number = attempt;
                T result = runAttempt(() -> body.run(number), attemptBudget, deadlineNanos, op);
                op.succeeded().run();
                if (attempt > 1) {
                    LOG.info(
                            "{} {}: done on attempt {}",
                            capitalized(op.what()),
                            redactor.redact(op.path()),
                            attempt);
                }
                return result;
            } catch (CallerInterrupted e) {
                throw e;
            } catch (AttemptTimedOut e) {
                failed = e;
                failureClass = FailureClass.TRANSIENT;
            } catch (IOException | RuntimeException e) {
                // Whatever the attempt threw is the store's answer, an InterruptedIOException
                // included: only this thread's own interrupt (above) is a cancellation, and a
                // SocketTimeoutException or ConnectTimeoutException is a store that did not answer.
                failed = e;
                failureClass = classify(op, e);
            }
            RetryPolicy.Decision decision =
                    policy.onFailure(
                            attempt, failureClass, ticker.nanoTime(), deadlineNanos, jitter);
            if (!decision.retry()) {
                op.failed().run();
                throw failure(op, attempt, decision.giveUpReason(), failed);
            }
            LOG.warn(
                    "Could not {} {} on attempt {} ({}): {}; retrying in {} ms",
                    op.what(),
                    redactor.redact(op.path()),
                    attempt,
                    failureClass,
                    redactor.describe(failed),
                    TimeUnit.NANOSECONDS.toMillis(decision.delayNanos()));
            try {
                sleeper.sleepNanos(decision.delayNanos());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw interrupted(op);
            }
        }
    }

    /**
     * An attempt that is not the last one allowed gets at most half of the time left (never less
     * than {@link #MIN_ATTEMPT_SHARE_NANOS}, or all of it when less is left): a request the store
     * never answers then leaves time for another attempt within the same bound, instead of using up
     * the whole of it (5 s by default on a JobManager thread).
     */
    long attemptBudget(int attempt, long timeLeftNanos) {
        if (timeLeftNanos <= 0 || attempt >= policy.maxAttempts()) {
            return timeLeftNanos;
        }
        return Math.max(timeLeftNanos / 2, Math.min(timeLeftNanos, MIN_ATTEMPT_SHARE_NANOS));
    }

    /** The least time an attempt gets when more is left: a healthy store answers well within it. */
    static final long MIN_ATTEMPT_SHARE_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** The store's class of {@code failure}; never throws (a classifier bug is not permanent). */
    private FailureClass classify(Operation op, Throwable failure) {
        try {
            return op.hopeless().test(failure) ? FailureClass.PERMANENT : store.classify(failure);
        } catch (RuntimeException | LinkageError e) {
            LOG.warn(
                    "Store '{}' could not classify a failure ({}); treating it as transient",
                    store.name(),
                    e.toString());
            return GenericFailureClassifier.classify(failure);
        }
    }

    /** Runs one attempt on an attempt thread, waiting at most {@code budgetNanos} for it. */
    private <T> T runAttempt(
            AttemptRun.Body<T> body, long budgetNanos, long deadlineNanos, Operation op)
            throws IOException {
        // The store may cut a request that hangs at this time (AttemptDeadline).
        AttemptRun<T> run =
                AttemptRun.start(attemptRunner, System.nanoTime() + budgetNanos, body, () -> {});
        try {
            return run.result().get(budgetNanos, TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            Throwable cause = Failures.unwrap(e);
            if (cause instanceof IOException) {
                throw (IOException) cause;
            }
            if (cause instanceof RuntimeException) {
                throw (RuntimeException) cause;
            }
            throw new IOException(cause);
        } catch (TimeoutException e) {
            run.interrupt();
            // The next attempt works on the same path: it may only start once this one has ended.
            long left = deadlineNanos - ticker.nanoTime();
            try {
                run.finished().get(Math.max(0, left), TimeUnit.NANOSECONDS);
            } catch (TimeoutException stillRunning) {
                throw new IOException(
                        "an attempt to "
                                + op.what()
                                + " "
                                + redactor.redact(op.path())
                                + " did not end within its time and did not stop when interrupted before the deadline");
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw interrupted(op);
            } catch (ExecutionException ignored) {
                // finished() never completes exceptionally
            }
            throw new AttemptTimedOut(
                    "the attempt took longer than "
                            + Duration.ofNanos(budgetNanos).toMillis()
                            + " ms and was interrupted");
        } catch (InterruptedException e) {
            run.interrupt();
            Thread.currentThread().interrupt();
            throw interrupted(op);
        }
    }

    private InterruptedIOException interrupted(Operation op) {
        return new CallerInterrupted(
                "Could not "
                        + op.what()
                        + " "
                        + redactor.redact(op.path())
                        + ": interrupted (the checkpoint was cancelled or the JobManager is shutting down)");
    }

    private IOException failure(
            Operation op, int attempts, RetryPolicy.GiveUpReason reason, Throwable last) {
        String why;
        String fix;
        switch (reason) {
            case PERMANENT:
                why = "the store refused it permanently";
                // The JobManager does this, not a TaskManager.
                fix =
                        GenericFailureClassifier.likelyFix(last)
                                .replace("TaskManager's", "JobManager's");
                break;
            case ATTEMPTS_EXHAUSTED:
                why = "all " + attempts + " attempts failed";
                fix =
                        "the store is failing persistently; check its health, or raise '"
                                + ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS.key()
                                + "'";
                break;
            default:
                why =
                        "its time ran out after "
                                + attempts
                                + " attempt(s): the checkpoint's deadline ('"
                                + CheckpointingOptions.CHECKPOINTING_TIMEOUT.key()
                                + "' x '"
                                + ResilientCheckpointOptions.DEADLINE_FRACTION.key()
                                + "') or, on a Flink JobManager thread, '"
                                + ResilientCheckpointOptions.JOBMANAGER_MAX_BLOCKING.key()
                                + "'";
                fix = "the store is too slow or failing; check its health, or raise those";
                break;
        }
        String answer = last == null ? "no answer before the deadline" : redactor.describe(last);
        // No cause: its message would bypass the redaction.
        return new IOException(
                "Could not "
                        + op.what()
                        + " "
                        + redactor.redact(op.path())
                        + ": "
                        + why
                        + " (store '"
                        + store.name()
                        + "'). Last answer: "
                        + answer
                        + ". Fix: "
                        + fix
                        + ".");
    }

    private static String capitalized(String s) {
        return s.isEmpty() ? s : Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }

    /**
     * The calling (Flink) thread was interrupted: a cancellation. Its own type, so that an {@link
     * InterruptedIOException} an attempt threw (a socket or connect timeout) is never taken for
     * one.
     */
    static final class CallerInterrupted extends InterruptedIOException {
        private static final long serialVersionUID = 1L;

        CallerInterrupted(String message) {
            super(message);
        }
    }

    /** An attempt overran the per-attempt timeout (and was interrupted and has ended). */
    static final class AttemptTimedOut extends IOException {
        private static final long serialVersionUID = 1L;

        AttemptTimedOut(String message) {
            super(message);
        }
    }
}
