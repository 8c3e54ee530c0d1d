package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.DoubleSupplier;

/**
 * The storage's one retry loop, for the TaskManager's uploads ({@link RetryingUploader}) and the
 * JobManager's store calls alike: each attempt runs on a thread of the attempt executor ({@link
 * AttemptRun}, which hands the attempt's end to the store), the caller waits for it at most its
 * budget, failures are classified, waits follow the {@link RetryPolicy}, and nothing is attempted
 * or awaited past the deadline. What differs between callers is an {@link Operation}: its messages,
 * counters, what it discards, and its {@link Overrun} policy.
 */
public final class RetryLoop {

    /** What becomes of an attempt that overran its budget. */
    public enum Overrun {
        /**
         * It is interrupted and awaited (until the deadline at most) before the next attempt
         * starts, since the next one works on the same path; an attempt that is not the last gets
         * at most half of the time left (at least {@link #MIN_ATTEMPT_SHARE_NANOS}), so that one
         * request the store never answers leaves time for another. For a Flink thread's own store
         * calls: {@code _metadata} writes, directory creation, deletes.
         */
        AWAIT,
        /**
         * It is given up at once (interrupted; what it wrote is discarded once its thread has left
         * the store call) and the next attempt writes a fresh path: the TaskManager's uploads.
         */
        ABANDON
    }

    /** One attempt: its store call, and what becomes of what it wrote if it is lost. */
    @FunctionalInterface
    public interface Attempt<T> {

        /** The store call, on an attempt thread. */
        T call() throws IOException;

        /**
         * The attempt failed or overran: whatever it may have written is no longer wanted. Its
         * thread may still be in the store call; {@code run} says when it has left it.
         */
        default void lost(AttemptRun<T> run) {}
    }

    /**
     * One operation's side of the loop: its attempts, messages and counters. Every method but
     * {@link Attempt#call} runs on the caller's thread; none throws except where declared.
     */
    public interface Operation<T> {

        /**
         * Before an attempt: may wait until the deadline (an upload permit). Refused when the
         * attempt cannot start before the deadline.
         *
         * @throws IOException when the wait was interrupted
         */
        default Admission admit(long deadlineNanos) throws IOException {
            return Admission.GRANTED;
        }

        /** Undoes {@link #admit} for an attempt that did not start. */
        default void notStarted() {}

        /** On the attempt's thread, once its store call has ended (or was skipped). */
        default void attemptEnded() {}

        /** Attempt number {@code attempt} (1-based), about to start. */
        Attempt<T> attempt(int attempt);

        /** Attempt {@code attempt} succeeded with {@code result}. */
        default void succeeded(int attempt, T result) {}

        /** The class of a failure an attempt threw; never throws. */
        FailureClass classify(Throwable failure);

        /** Attempt {@code attempt} failed; {@code timedOut} when it overran its budget. */
        default void failed(int attempt, FailureClass failureClass, boolean timedOut) {}

        /** The loop waits {@code delayNanos} before attempt {@code attempt + 1}. */
        void retrying(int attempt, FailureClass failureClass, Throwable failure, long delayNanos);

        /**
         * The error the loop throws when it gives up after {@code attempts} attempts; {@code last}
         * is the last failure, or null when none was seen.
         */
        IOException giveUp(
                RetryPolicy.GiveUpReason reason,
                int attempts,
                FailureClass lastClass,
                Throwable last);

        /**
         * The error the loop throws when the caller was interrupted ({@code interrupted}; the loop
         * keeps the interrupt flag) or the operation was cancelled.
         */
        InterruptedIOException cancelled(boolean interrupted);

        /** An overrunning attempt ({@link Overrun#AWAIT}) did not end before the deadline. */
        IOException didNotStop();
    }

    /** Whether an attempt may start, and if not, why. */
    public record Admission(boolean granted, Throwable failure) {
        public static final Admission GRANTED = new Admission(true, null);

        public static Admission refused(Throwable failure) {
            return new Admission(false, failure);
        }
    }

    /** The least time a non-last {@link Overrun#AWAIT} attempt gets when more is left. */
    public static final long MIN_ATTEMPT_SHARE_NANOS = TimeUnit.SECONDS.toNanos(1);

    private static final CompletableFuture<Void> NEVER = new CompletableFuture<>();

    private final RetryPolicy policy;
    private final Overrun overrun;
    private final Executor executor;
    private final Ticker ticker;
    private final Sleeper sleeper;
    private final DoubleSupplier jitter;

    public RetryLoop(
            RetryPolicy policy,
            Overrun overrun,
            Executor executor,
            Ticker ticker,
            Sleeper sleeper,
            DoubleSupplier jitter) {
        this.policy = policy;
        this.overrun = overrun;
        this.executor = executor;
        this.ticker = ticker;
        this.sleeper = sleeper;
        this.jitter = jitter;
    }

    /** Runs {@code op} until it succeeds, without a cancellation signal. */
    public <T> T run(Operation<T> op, long deadlineNanos) throws IOException {
        return run(op, deadlineNanos, NEVER);
    }

    /**
     * Runs {@code op} until it succeeds, a failure is permanent, the attempts run out, the deadline
     * passes, or {@code cancellation} completes.
     *
     * @param deadlineNanos {@link Ticker} time after which no attempt starts and no wait ends
     */
    public <T> T run(Operation<T> op, long deadlineNanos, CompletableFuture<?> cancellation)
            throws IOException {
        Throwable last = null;
        FailureClass lastClass = FailureClass.TRANSIENT;
        for (int attempt = 1; ; attempt++) {
            checkCancelled(op, cancellation);
            if (policy.attemptTimeoutNanos(ticker.nanoTime(), deadlineNanos) <= 0) {
                throw op.giveUp(RetryPolicy.GiveUpReason.DEADLINE, attempt - 1, lastClass, last);
            }
            Admission admission = op.admit(deadlineNanos);
            if (!admission.granted()) {
                throw op.giveUp(
                        RetryPolicy.GiveUpReason.DEADLINE,
                        attempt - 1,
                        lastClass,
                        last == null ? admission.failure() : last);
            }
            // The budget counts from now: the admission may have used up most of the time.
            long budget =
                    budget(attempt, policy.attemptTimeoutNanos(ticker.nanoTime(), deadlineNanos));
            if (budget <= 0) {
                op.notStarted();
                throw op.giveUp(RetryPolicy.GiveUpReason.DEADLINE, attempt - 1, lastClass, last);
            }
            Attempt<T> current;
            AttemptRun<T> run;
            try {
                current = op.attempt(attempt);
                // The store may cut a request that hangs when the attempt's time is up.
                run =
                        AttemptRun.start(
                                executor,
                                System.nanoTime() + budget,
                                current::call,
                                op::attemptEnded);
            } catch (RuntimeException e) {
                op.notStarted();
                throw e;
            }
            boolean timedOut = false;
            try {
                CompletableFuture.anyOf(run.result(), cancellation)
                        .get(budget, TimeUnit.NANOSECONDS);
                if (!run.result().isDone()) {
                    run.cancel();
                    current.lost(run);
                    checkCancelled(op, cancellation);
                }
                T result = run.result().join();
                op.succeeded(attempt, result);
                return result;
            } catch (TimeoutException e) {
                timedOut = true;
                last = overran(op, current, run, budget, deadlineNanos);
            } catch (ExecutionException | CompletionException | CancellationException e) {
                current.lost(run);
                if (!run.result().isDone()) {
                    // The cancellation signal completed exceptionally: a cancellation all the same.
                    run.cancel();
                    throw op.cancelled(false);
                }
                last = Failures.unwrap(e);
            } catch (InterruptedException e) {
                run.cancel();
                current.lost(run);
                Thread.currentThread().interrupt();
                throw op.cancelled(true);
            }
            // An overrun is the store not answering in time; anything else is its answer, an
            // InterruptedIOException (a socket or connect timeout) included: only the caller's
            // own interrupt (above) is a cancellation.
            lastClass = timedOut ? FailureClass.TRANSIENT : op.classify(last);
            op.failed(attempt, lastClass, timedOut);
            RetryPolicy.Decision decision =
                    policy.onFailure(attempt, lastClass, ticker.nanoTime(), deadlineNanos, jitter);
            if (!decision.retry()) {
                throw op.giveUp(decision.giveUpReason(), attempt, lastClass, last);
            }
            op.retrying(attempt, lastClass, last, decision.delayNanos());
            backOff(op, decision.delayNanos(), cancellation);
        }
    }

    /**
     * The time attempt {@code attempt} may take when {@code timeLeftNanos} (capped by the
     * per-attempt timeout) is left: all of it, or for {@link Overrun#AWAIT} and an attempt that is
     * not the last, at most half of it.
     */
    public long budget(int attempt, long timeLeftNanos) {
        if (overrun == Overrun.ABANDON || timeLeftNanos <= 0 || attempt >= policy.maxAttempts()) {
            return timeLeftNanos;
        }
        return Math.max(timeLeftNanos / 2, Math.min(timeLeftNanos, MIN_ATTEMPT_SHARE_NANOS));
    }

    /** Stops an attempt that overran, as the {@link Overrun} policy says; returns the failure. */
    private <T> IOException overran(
            Operation<T> op,
            Attempt<T> attempt,
            AttemptRun<T> run,
            long budgetNanos,
            long deadlineNanos)
            throws IOException {
        String what =
                "the attempt took longer than "
                        + TimeUnit.NANOSECONDS.toMillis(budgetNanos)
                        + " ms and was interrupted";
        if (overrun == Overrun.ABANDON) {
            run.cancel();
            attempt.lost(run);
            return new IOException(what);
        }
        run.interrupt();
        // The next attempt works on the same path: it may only start once this one has ended.
        try {
            run.finished()
                    .get(Math.max(0, deadlineNanos - ticker.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException stillRunning) {
            throw op.didNotStop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw op.cancelled(true);
        } catch (ExecutionException ignored) {
            // finished() never completes exceptionally
        }
        attempt.lost(run);
        return new AttemptTimedOut(what);
    }

    private void backOff(Operation<?> op, long delayNanos, CompletableFuture<?> cancellation)
            throws IOException {
        if (delayNanos > 0) {
            try {
                if (cancellation == NEVER) {
                    sleeper.sleepNanos(delayNanos);
                } else {
                    cancellation.get(delayNanos, TimeUnit.NANOSECONDS);
                }
            } catch (TimeoutException expected) {
                // waited the whole delay
            } catch (ExecutionException e) {
                // cancelled exceptionally: a cancellation all the same
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw op.cancelled(true);
            }
        }
        checkCancelled(op, cancellation);
    }

    private static void checkCancelled(Operation<?> op, CompletableFuture<?> cancellation)
            throws InterruptedIOException {
        if (Thread.currentThread().isInterrupted()) {
            throw op.cancelled(true);
        }
        if (cancellation.isDone()) {
            throw op.cancelled(false);
        }
    }

    /** An attempt overran its budget (and, with {@link Overrun#AWAIT}, has ended since). */
    public static final class AttemptTimedOut extends IOException {
        private static final long serialVersionUID = 1L;

        AttemptTimedOut(String message) {
            super(message);
        }
    }
}
