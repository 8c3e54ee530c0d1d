package io.github.resilientcheckpoints.storage.jm;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryLoop;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
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
 * deadline no attempt or wait crosses, run by the storage's one {@link RetryLoop}.
 *
 * <p>Attempts that overrun are {@link RetryLoop.Overrun#AWAIT awaited}: interrupted, and awaited
 * before the next one starts, so attempts on the same path never overlap; an attempt that is not
 * the last gets at most half of the time left, so a hanging store cannot hold the checkpoint
 * coordinator and one request that is never answered does not use up the whole bound.
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
    private final Ticker ticker;
    private final Redactor redactor;
    private final RetryLoop loop;

    StoreRetries(
            CheckpointStore store,
            RetryPolicy policy,
            Ticker ticker,
            Sleeper sleeper,
            DoubleSupplier jitter,
            Redactor redactor,
            Executor attemptRunner) {
        this.store = store;
        this.ticker = ticker;
        this.redactor = redactor;
        this.loop =
                new RetryLoop(
                        policy, RetryLoop.Overrun.AWAIT, attemptRunner, ticker, sleeper, jitter);
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
        return loop.run(new Call<>(op, body), deadlineNanos);
    }

    /**
     * The time attempt {@code attempt} may take when {@code timeLeftNanos} is left: unless it is
     * the last one allowed, at most half of it (never less than {@link
     * RetryLoop#MIN_ATTEMPT_SHARE_NANOS}, or all of it when less is left), so that a request the
     * store never answers leaves time for another attempt within the same bound (5 s by default on
     * a JobManager thread).
     */
    long attemptBudget(int attempt, long timeLeftNanos) {
        return loop.budget(attempt, timeLeftNanos);
    }

    /** One {@link #call}: the loop's view of the operation. */
    private final class Call<T> implements RetryLoop.Operation<T> {
        private final Operation op;
        private final Attempt<T> body;

        Call(Operation op, Attempt<T> body) {
            this.op = op;
            this.body = body;
        }

        @Override
        public RetryLoop.Attempt<T> attempt(int attempt) {
            op.attemptStarted().accept(attempt);
            return () -> body.run(attempt);
        }

        @Override
        public void succeeded(int attempt, T result) {
            op.succeeded().run();
            if (attempt > 1) {
                LOG.info(
                        "{} {}: done on attempt {}",
                        capitalized(op.what()),
                        redactor.redact(op.path()),
                        attempt);
            }
        }

        /**
         * The store's class of {@code failure}; never throws (a classifier bug is not permanent).
         */
        @Override
        public FailureClass classify(Throwable failure) {
            try {
                return op.hopeless().test(failure)
                        ? FailureClass.PERMANENT
                        : store.classify(failure);
            } catch (RuntimeException | LinkageError e) {
                LOG.warn(
                        "Store '{}' could not classify a failure ({}); treating it as transient",
                        store.name(),
                        e.toString());
                return GenericFailureClassifier.classify(failure);
            }
        }

        @Override
        public void retrying(
                int attempt, FailureClass failureClass, Throwable failure, long delayNanos) {
            LOG.warn(
                    "Could not {} {} on attempt {} ({}): {}; retrying in {} ms",
                    op.what(),
                    redactor.redact(op.path()),
                    attempt,
                    failureClass,
                    redactor.describe(failure),
                    TimeUnit.NANOSECONDS.toMillis(delayNanos));
        }

        @Override
        public IOException giveUp(
                RetryPolicy.GiveUpReason reason,
                int attempts,
                FailureClass lastClass,
                Throwable last) {
            op.failed().run();
            return failure(op, attempts, reason, last);
        }

        @Override
        public InterruptedIOException cancelled(boolean interrupted) {
            return interrupted(op);
        }

        @Override
        public IOException didNotStop() {
            op.failed().run();
            return new IOException(
                    couldNot(op)
                            + ": an attempt did not end within its time and did not stop when"
                            + " interrupted before the deadline (store '"
                            + store.name()
                            + "')");
        }
    }

    private InterruptedIOException interrupted(Operation op) {
        return new CallerInterrupted(
                couldNot(op)
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
                couldNot(op)
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

    /** "Could not write s3://…/chk-3/_metadata": the start of every give-up message, redacted. */
    private String couldNot(Operation op) {
        return "Could not " + op.what() + " " + redactor.redact(op.path());
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
}
