package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.store.AttemptDeadline;
import java.io.IOException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * One attempt of a store call, run on a thread of an executor with the attempt's end handed to the
 * store ({@link AttemptDeadline}), for the TaskManager's uploads and the JobManager's store calls
 * alike. The caller waits on {@link #result()}; an attempt that overran is stopped with {@link
 * #interrupt()} or {@link #cancel()}, and {@link #finished()} completes once its thread has left
 * the store call. An interrupt never outlives the attempt on a pooled thread.
 */
public final class AttemptRun<T> {

    /** The store call of one attempt. */
    @FunctionalInterface
    public interface Body<T> {
        T run() throws IOException;
    }

    private final CompletableFuture<T> result = new CompletableFuture<>();
    private final CompletableFuture<Void> finished = new CompletableFuture<>();
    private final Object lock = new Object();

    /** The thread running the body, while it runs. */
    private Thread runner;

    /** Set by {@link #cancel()}: a body that has not started never starts. */
    private boolean cancelled;

    private AttemptRun() {}

    /**
     * Runs {@code body} on {@code executor}; {@code onFinish} runs on that thread once the body has
     * ended (or was skipped), before {@link #finished()} completes.
     *
     * @param attemptDeadlineNanos {@link System#nanoTime()} at which the store may cut the call
     * @throws java.util.concurrent.RejectedExecutionException when the executor refuses the task
     *     ({@code onFinish} does not run then)
     */
    public static <T> AttemptRun<T> start(
            Executor executor, long attemptDeadlineNanos, Body<T> body, Runnable onFinish) {
        AttemptRun<T> run = new AttemptRun<>();
        executor.execute(() -> run.run(attemptDeadlineNanos, body, onFinish));
        return run;
    }

    private void run(long attemptDeadlineNanos, Body<T> body, Runnable onFinish) {
        try {
            synchronized (lock) {
                if (cancelled) {
                    result.completeExceptionally(new CancellationException("attempt given up"));
                    return;
                }
                runner = Thread.currentThread();
            }
            try {
                result.complete(AttemptDeadline.during(attemptDeadlineNanos, body::run));
            } catch (Throwable t) {
                result.completeExceptionally(t);
            } finally {
                synchronized (lock) {
                    runner = null;
                    // Never leave an interrupt behind on a pooled thread.
                    Thread.interrupted();
                }
            }
        } finally {
            try {
                onFinish.run();
            } finally {
                finished.complete(null);
            }
        }
    }

    /** Completes with what the body returned, or exceptionally with what it threw. */
    public CompletableFuture<T> result() {
        return result;
    }

    /** Completes once the attempt's thread has left the body (or the body was skipped). */
    public CompletableFuture<Void> finished() {
        return finished;
    }

    /** Interrupts the body's thread if it is running the body now. */
    public void interrupt() {
        synchronized (lock) {
            if (runner != null) {
                runner.interrupt();
            }
        }
    }

    /** Gives the attempt up: a body not yet started never starts; a running one is interrupted. */
    public void cancel() {
        synchronized (lock) {
            cancelled = true;
            if (runner != null) {
                runner.interrupt();
            }
        }
    }
}
