package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.metrics.StorageMetricsMBeanRegistrar;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import org.apache.flink.api.common.JobID;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The per-JVM home of everything the storage shares across tasks: upload threads, counters and the
 * time each checkpoint was first seen here. Flink rebuilds the storage for every task and gives it no
 * close hook, so the TaskManager's instance is created lazily by {@link #shared} and lives as long as
 * the JVM (daemon threads, which also time out when idle). Tests create their own instance and close
 * it.
 */
public final class UploadRuntime implements AutoCloseable {

    private static final Map<Integer, UploadRuntime> SHARED = new ConcurrentHashMap<>();

    private final String name;
    private final ThreadPoolExecutor executor;
    /** Aborts and deletes of abandoned uploads: on threads nobody interrupts. */
    private final ThreadPoolExecutor cleanupExecutor;
    private final StorageMetrics metrics = new StorageMetrics();
    private final Ticker ticker;
    private final Cache<CheckpointKey, Long> firstSeen;
    private final Runnable unregister;

    public UploadRuntime(String name, int uploadThreads, Ticker ticker) {
        this(name, uploadThreads, ticker, false);
    }

    private UploadRuntime(String name, int uploadThreads, Ticker ticker, boolean registerMBean) {
        this.name = name;
        this.ticker = ticker;
        this.executor = new ThreadPoolExecutor(
                uploadThreads, uploadThreads, 60, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), daemonThreads("rcs-upload-" + name));
        this.executor.allowCoreThreadTimeOut(true);
        this.cleanupExecutor = new ThreadPoolExecutor(
                2, 2, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), daemonThreads("rcs-cleanup-" + name));
        this.cleanupExecutor.allowCoreThreadTimeOut(true);
        // Entries only need to outlive the longest checkpoint timeout; the bound keeps memory flat
        // for TaskManagers that run many jobs for months.
        this.firstSeen = Caffeine.newBuilder()
                .expireAfterWrite(Duration.ofDays(1))
                .maximumSize(100_000)
                .build();
        this.unregister = registerMBean
                ? StorageMetricsMBeanRegistrar.register(name, metrics)
                : () -> { };
    }

    /**
     * The JVM's runtime for the given thread count (jobs with equal settings share it). Created on
     * first use, never closed: its threads are daemons and time out when idle.
     */
    public static UploadRuntime shared(int uploadThreads) {
        return SHARED.computeIfAbsent(uploadThreads,
                n -> new UploadRuntime("threads-" + n, n, Ticker.SYSTEM, true));
    }

    public ExecutorService executor() {
        return executor;
    }

    /**
     * Where cleanup work runs (aborting a part upload, deleting an abandoned attempt's file): never
     * on a task or upload thread that may have been interrupted, where object store clients refuse
     * requests.
     */
    public ExecutorService cleanupExecutor() {
        return cleanupExecutor;
    }

    public StorageMetrics metrics() {
        return metrics;
    }

    public Ticker ticker() {
        return ticker;
    }

    public String name() {
        return name;
    }

    /**
     * Ticker time when this JVM first asked for checkpoint {@code checkpointId} of {@code job}. The
     * TaskManager learns no trigger time from Flink; the first sighting is the earliest moment it
     * can count the checkpoint timeout from, and every later task of the same checkpoint shares it.
     */
    public long firstSeenNanos(JobID job, long checkpointId) {
        return firstSeen.get(new CheckpointKey(job, checkpointId), k -> ticker.nanoTime());
    }

    @Override
    public void close() {
        unregister.run();
        executor.shutdownNow();
        try {
            executor.awaitTermination(10, TimeUnit.SECONDS);
            // Then the cleanup the stopped uploads queued still runs, uninterrupted: it is what
            // keeps the store clean.
            cleanupExecutor.shutdown();
            cleanupExecutor.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            cleanupExecutor.shutdown();
            Thread.currentThread().interrupt();
        }
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger count = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + count.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    private record CheckpointKey(JobID job, long checkpointId) { }
}
