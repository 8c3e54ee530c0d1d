package io.github.resilientcheckpoints.storage;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.annotation.concurrent.GuardedBy;
import javax.annotation.concurrent.ThreadSafe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thread pools of one {@link StorageRuntime}: named daemon threads, each pool created on first
 * use, idle threads timing out; {@link #close} stops them all.
 */
@ThreadSafe
final class RuntimeThreads {

    private static final Logger LOG = LoggerFactory.getLogger(RuntimeThreads.class);

    private final String name;
    private final Map<Integer, ThreadPoolExecutor> uploads = new ConcurrentHashMap<>();

    @GuardedBy("this")
    private ThreadPoolExecutor sweeps;

    @GuardedBy("this")
    private ThreadPoolExecutor cleanup;

    @GuardedBy("this")
    private ThreadPoolExecutor metadataAttempts;

    @GuardedBy("this")
    private ThreadPoolExecutor locationDeletes;

    @GuardedBy("this")
    private ScheduledThreadPoolExecutor maintenance;

    private volatile boolean closed;

    RuntimeThreads(String name) {
        this.name = name;
    }

    /** The upload threads for jobs configured with {@code threads} of them. */
    ExecutorService upload(int threads) {
        checkOpen();
        return uploads.computeIfAbsent(
                threads, n -> pool(n, new LinkedBlockingQueue<>(), "rcs-upload-" + name + "-" + n));
    }

    /** Two threads for cleanup work: never an interrupted task or upload thread. */
    synchronized ExecutorService cleanup() {
        checkOpen();
        if (cleanup == null) {
            cleanup = pool(2, new LinkedBlockingQueue<>(), "rcs-cleanup-" + name);
        }
        return cleanup;
    }

    /** One thread per {@code _metadata} write attempt, as many as needed. */
    synchronized ExecutorService metadataAttempts() {
        checkOpen();
        if (metadataAttempts == null) {
            metadataAttempts =
                    new ThreadPoolExecutor(
                            0,
                            Integer.MAX_VALUE,
                            60,
                            TimeUnit.SECONDS,
                            new SynchronousQueue<>(),
                            daemonThreads("rcs-metadata-" + name));
        }
        return metadataAttempts;
    }

    /** Two threads for the JobManager's deletes of aborted checkpoints' locations. */
    synchronized ExecutorService locationDeletes() {
        checkOpen();
        if (locationDeletes == null) {
            locationDeletes = pool(2, new LinkedBlockingQueue<>(), "rcs-location-delete-" + name);
        }
        return locationDeletes;
    }

    /** The one thread all cleanup sweeps share: cleanup is never urgent. */
    synchronized ExecutorService sweeps() {
        checkOpen();
        if (sweeps == null) {
            sweeps = pool(1, new LinkedBlockingQueue<>(), "rcs-checkpoint-janitor-" + name);
        }
        return sweeps;
    }

    /** Runs {@code task} every {@code period} on the maintenance thread, from the first call on. */
    synchronized void startMaintenance(Runnable task, Duration period) {
        if (maintenance == null && !closed) {
            maintenance =
                    new ScheduledThreadPoolExecutor(1, daemonThreads("rcs-maintenance-" + name));
            long millis = period.toMillis();
            maintenance.scheduleWithFixedDelay(task, millis, millis, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Interrupts and stops every thread, then lets the cleanup work already queued finish (at most
     * 10 s): the aborts and deletes that stopped uploads queued are what keeps the store clean.
     * Later requests for a pool fail.
     *
     * @return whether the calling thread was interrupted while waiting
     */
    boolean close() {
        List<ExecutorService> executors;
        ExecutorService cleanupWork;
        synchronized (this) {
            closed = true;
            executors = new ArrayList<>(uploads.values());
            if (sweeps != null) {
                executors.add(sweeps);
            }
            if (maintenance != null) {
                executors.add(maintenance);
            }
            if (metadataAttempts != null) {
                executors.add(metadataAttempts);
            }
            if (locationDeletes != null) {
                // Deletes still queued are dropped: the janitor (or the operator) finds what is
                // left.
                executors.add(locationDeletes);
            }
            cleanupWork = cleanup;
        }
        for (ExecutorService executor : executors) {
            executor.shutdownNow();
        }
        boolean interrupted = false;
        for (ExecutorService executor : executors) {
            try {
                if (!executor.awaitTermination(10, TimeUnit.SECONDS)) {
                    LOG.warn("Threads of storage runtime '{}' did not stop within 10 s.", name);
                }
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (cleanupWork != null) {
            // Uninterrupted, while the stores are still open.
            cleanupWork.shutdown();
            try {
                if (!cleanupWork.awaitTermination(10, TimeUnit.SECONDS)) {
                    LOG.warn("Cleanup of storage runtime '{}' did not finish within 10 s.", name);
                    cleanupWork.shutdownNow();
                }
            } catch (InterruptedException e) {
                cleanupWork.shutdownNow();
                interrupted = true;
            }
        }
        return interrupted;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("storage runtime '" + name + "' is closed");
        }
    }

    private static ThreadPoolExecutor pool(
            int threads, LinkedBlockingQueue<Runnable> queue, String prefix) {
        ThreadPoolExecutor executor =
                new ThreadPoolExecutor(
                        threads, threads, 60, TimeUnit.SECONDS, queue, daemonThreads(prefix));
        executor.allowCoreThreadTimeOut(true);
        return executor;
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger count = new AtomicInteger();
        // Threads are created on whatever thread first submits, often a task thread of some job:
        // neither its context class loader nor its inheritable thread locals may live on in ours,
        // or a finished job's class loader stays pinned for the life of the TaskManager.
        ClassLoader own = StorageRuntime.class.getClassLoader();
        return r -> {
            Thread t = new Thread(null, r, prefix + "-" + count.incrementAndGet(), 0, false);
            t.setContextClassLoader(own);
            t.setDaemon(true);
            return t;
        };
    }
}
