package io.github.resilientcheckpoints.store;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs a store's cleanup calls (aborting a multipart upload, deleting an abandoned, partial or
 * temporary object) so that an interrupt of the calling thread cannot refuse them. Cleanup runs
 * where an upload is cancelled, that is on interrupted threads, and store clients fail requests
 * there: the AWS SDK with {@code AbortedException: Thread was interrupted} (the incomplete upload
 * would stay, billed), the Hadoop client with {@code InterruptedIOException: Call interrupted}
 * (whether the NameNode still got the request is a race, and the caller is told it failed).
 *
 * <p>On a thread that is not interrupted the call runs inline. Otherwise it runs on one of this
 * executor's own daemon threads (context class loader: the store's), the caller waits for it within
 * a bound, and the interrupt flag is restored; past the bound it goes on in the background. The
 * store creates one and shuts it down in its {@code close()}, before its client.
 */
public final class CleanupExecutor implements AutoCloseable {

    /** One cleanup call. */
    public interface Call<T> {
        T call() throws IOException;
    }

    private final ThreadPoolExecutor pool;
    private final long waitNanos;

    public CleanupExecutor(
            String threadName, ClassLoader contextClassLoader, int threads, Duration maxWait) {
        AtomicInteger n = new AtomicInteger();
        this.pool =
                new ThreadPoolExecutor(
                        threads,
                        threads,
                        30,
                        TimeUnit.SECONDS,
                        new LinkedBlockingQueue<>(),
                        r -> {
                            Thread t = new Thread(r, threadName + "-" + n.incrementAndGet());
                            t.setDaemon(true);
                            t.setContextClassLoader(contextClassLoader);
                            return t;
                        });
        pool.allowCoreThreadTimeOut(true);
        this.waitNanos = maxWait.toNanos();
    }

    /** Runs {@code cleanup} where no interrupt can refuse it; see the class comment. */
    public <T> T call(String what, Call<T> cleanup) throws IOException {
        if (!Thread.currentThread().isInterrupted()) {
            try {
                return cleanup.call();
            } catch (IOException | RuntimeException e) {
                if (!Thread.currentThread().isInterrupted()) {
                    throw e;
                }
                // An interrupt arrived during the call and may be why it failed: once more, safely.
            }
        }
        return callUninterruptible(what, cleanup);
    }

    private <T> T callUninterruptible(String what, Call<T> cleanup) throws IOException {
        Future<T> result;
        try {
            result = pool.submit(cleanup::call);
        } catch (RejectedExecutionException closed) {
            throw new IOException(what + " was not run: the store is closed", closed);
        }
        boolean interrupted = Thread.interrupted();
        long end = System.nanoTime() + waitNanos;
        try {
            while (true) {
                try {
                    return result.get(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (InterruptedException again) {
                    interrupted = true; // the bound, not another interrupt, ends this wait
                } catch (TimeoutException e) {
                    throw new IOException(
                            what
                                    + " did not finish within "
                                    + TimeUnit.NANOSECONDS.toMillis(waitNanos)
                                    + " ms; it goes on in the background");
                } catch (ExecutionException e) {
                    Throwable c = e.getCause();
                    if (c instanceof IOException) {
                        throw (IOException) c;
                    }
                    if (c instanceof RuntimeException) {
                        throw (RuntimeException) c;
                    }
                    if (c instanceof Error) {
                        throw (Error) c;
                    }
                    throw new IOException(what + " failed", c);
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Runs {@code cleanup} later on a cleanup thread; dropped if the store is closing. */
    public void runLater(Runnable cleanup) {
        try {
            pool.execute(cleanup);
        } catch (RejectedExecutionException closed) {
            // The store is closing; the cleanup sweep finds what is left.
        }
    }

    /** Lets queued cleanups finish (bounded), then stops the threads. */
    @Override
    public void close() {
        pool.shutdown();
        boolean interrupted = false;
        try {
            if (!pool.awaitTermination(10, TimeUnit.SECONDS)) {
                pool.shutdownNow();
            }
        } catch (InterruptedException e) {
            interrupted = true;
            pool.shutdownNow();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
