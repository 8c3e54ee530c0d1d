package io.github.resilientcheckpoints.storage;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.github.resilientcheckpoints.cleanup.CachedMetadataReader;
import io.github.resilientcheckpoints.cleanup.CheckpointIndex;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.metrics.StorageMetricsMBeanRegistrar;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.store.SupportsRequestEvents;
import io.github.resilientcheckpoints.store.SupportsThrottleSignals;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.UploadThrottle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.annotation.concurrent.GuardedBy;
import javax.annotation.concurrent.ThreadSafe;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.ReadableConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one owner of everything the storage shares within a JVM (a TaskManager, or the JobManager for
 * cleanup): upload threads, stores and their clients, throttles, spill spaces, the janitor thread,
 * counters and their JMX bean, and the time each checkpoint was first seen. It creates them, keys
 * them by typed values of the settings they depend on, and closes them.
 *
 * <p>Flink rebuilds the storage for every task and gives it no close hook, so a JVM's runtime is
 * created lazily by {@link #shared} and lives as long as the JVM (daemon threads, which time out
 * when idle). Tests create their own instance and close it.
 */
@ThreadSafe
public final class StorageRuntime implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(StorageRuntime.class);

    /** Stores unused this long are closed (their clients hold connections and threads). */
    public static final Duration DEFAULT_STORE_IDLE_TIMEOUT = Duration.ofHours(1);

    /** How often idle stores are looked for. */
    private static final Duration MAINTENANCE_INTERVAL = Duration.ofMinutes(1);

    private static final Object SHARED_LOCK = new Object();

    @GuardedBy("SHARED_LOCK")
    private static StorageRuntime shared;

    private final String name;
    private final Ticker ticker;
    private final StorageMetrics metrics = new StorageMetrics();
    private final Cache<CheckpointKey, Long> firstSeen;

    /** Jobs whose checkpoint storage this JVM has set up (JobManager), for the submission probe. */
    private final Cache<JobID, Boolean> startedJobs =
            Caffeine.newBuilder().maximumSize(100_000).build();

    private final Runnable unregisterMBean;

    private final Map<Integer, ThreadPoolExecutor> uploadExecutors = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<StoreKey, StoreEntry> stores = new ConcurrentHashMap<>();
    private final Map<UploadThrottle.Settings, UploadThrottle> throttles =
            new ConcurrentHashMap<>();
    private final Map<SpillKey, SpillSpace> spillSpaces = new ConcurrentHashMap<>();
    private final Map<String, Long> lastSweeps = new ConcurrentHashMap<>();
    private final CheckpointIndex.MetadataReader metadataReferences =
            new CachedMetadataReader(StorageRuntime.class.getClassLoader());

    @GuardedBy("this")
    private ThreadPoolExecutor sweeps;

    private ThreadPoolExecutor cleanup;
    private ThreadPoolExecutor metadataAttempts;
    private ThreadPoolExecutor locationDeletes;

    /** Closes idle stores; started with the first store. */
    @GuardedBy("this")
    private ScheduledThreadPoolExecutor maintenance;

    private final Duration storeIdleTimeout;

    private volatile boolean closed;

    /** A runtime of its own (tests, tools): nothing registered in JMX. */
    public StorageRuntime(String name, Ticker ticker) {
        this(name, ticker, false, DEFAULT_STORE_IDLE_TIMEOUT);
    }

    /**
     * A runtime of its own; with {@code registerMBean}, its counters are in JMX until it is closed.
     */
    public StorageRuntime(String name, Ticker ticker, boolean registerMBean) {
        this(name, ticker, registerMBean, DEFAULT_STORE_IDLE_TIMEOUT);
    }

    /**
     * @param storeIdleTimeout a store no task or janitor asked for in this long is closed (at least
     *     twice the checkpoint timeout of its settings, so that no upload still uses it)
     */
    public StorageRuntime(
            String name, Ticker ticker, boolean registerMBean, Duration storeIdleTimeout) {
        this.name = name;
        this.ticker = ticker;
        this.storeIdleTimeout = storeIdleTimeout;
        // Entries only need to outlive the longest checkpoint timeout; the bound keeps memory flat
        // for TaskManagers that run many jobs for months.
        this.firstSeen =
                Caffeine.newBuilder()
                        .expireAfterWrite(Duration.ofDays(1))
                        .maximumSize(100_000)
                        .build();
        this.unregisterMBean =
                registerMBean ? StorageMetricsMBeanRegistrar.register(name, metrics) : () -> {};
    }

    /** This JVM's runtime, created on first use; its counters are in JMX under runtime "shared". */
    public static StorageRuntime shared() {
        synchronized (SHARED_LOCK) {
            if (shared == null) {
                warnIfBundledInAJob();
                shared = new StorageRuntime("shared", Ticker.SYSTEM, true);
            }
            return shared;
        }
    }

    /**
     * Loaded by a job's user-code class loader (the jar is in the job jar, not in {@code lib/}):
     * every job that bundles it gets a copy of this runtime, with its own threads, JMX bean and
     * spill budget, kept until the TaskManager exits (its threads keep the job's class loader).
     * Copies never sweep each other's spill files (one spill token per JVM), but they do not share
     * limits.
     */
    private static void warnIfBundledInAJob() {
        ClassLoader loader = StorageRuntime.class.getClassLoader();
        String type = loader == null ? "" : loader.getClass().getName();
        if (type.contains("FlinkUserCodeClassLoader")
                || type.contains("ChildFirstClassLoader")
                || type.contains("ParentFirstClassLoader")
                || type.contains("SafetyNetWrapperClassLoader")) {
            LOG.warn(
                    "Resilient Checkpoint Storage is loaded from a job jar ({}): each job that bundles"
                            + " it runs its own copy, with its own upload threads, throttle, spill budget"
                            + " and JMX bean, kept until this TaskManager exits. Put the jar into Flink's"
                            + " lib/ directory and mark it 'provided' in the job's build.",
                    type);
        }
    }

    public String name() {
        return name;
    }

    public StorageMetrics metrics() {
        return metrics;
    }

    public Ticker ticker() {
        return ticker;
    }

    /** The upload threads for jobs configured with {@code threads} of them. */
    public ExecutorService uploadExecutor(int threads) {
        checkOpen();
        return uploadExecutors.computeIfAbsent(
                threads,
                n -> {
                    ThreadPoolExecutor executor =
                            new ThreadPoolExecutor(
                                    n,
                                    n,
                                    60,
                                    TimeUnit.SECONDS,
                                    new LinkedBlockingQueue<>(),
                                    daemonThreads("rcs-upload-" + name + "-" + n));
                    executor.allowCoreThreadTimeOut(true);
                    return executor;
                });
    }

    /**
     * The store for checkpoints under {@code root} with these settings, created on first use: with
     * the fault-injection drill in front if the settings ask for it, and its throttle signals wired
     * to the throttle of these settings. Keyed by the root and every store-relevant setting ({@link
     * StoreKey}): jobs with other credentials or endpoints get their own store.
     */
    CheckpointStore store(URI root, ReadableConfig config, ResilientSettings settings)
            throws IOException {
        checkOpen();
        StoreKey key = StoreKey.of(root, config.toMap());
        long idleNanos =
                Math.max(storeIdleTimeout.toNanos(), 2 * settings.checkpointTimeout.toNanos());
        StoreEntry entry;
        try {
            entry =
                    stores.compute(
                            key,
                            (k, existing) -> {
                                checkOpen();
                                if (existing != null) {
                                    existing.lastUsedNanos = ticker.nanoTime();
                                    // Jobs with longer checkpoint timeouts share it: the longest
                                    // wins, never the first job's.
                                    existing.idleNanos = Math.max(existing.idleNanos, idleNanos);
                                    return existing;
                                }
                                try {
                                    LOG.info(
                                            "Creating the checkpoint store for {} in runtime '{}'.",
                                            k,
                                            name);
                                    return new StoreEntry(
                                            createStore(root, config, settings),
                                            idleNanos,
                                            ticker.nanoTime());
                                } catch (IOException e) {
                                    throw new UncheckedIOException(e);
                                }
                            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        startMaintenance();
        return entry.store;
    }

    /** The keys of the stores open now (diagnostics; no secret in them). */
    public List<String> storeKeys() {
        List<String> keys = new ArrayList<>();
        for (StoreKey key : stores.keySet()) {
            keys.add(key.toString());
        }
        return keys;
    }

    /**
     * Closes the stores nobody asked for in their idle time; runs every minute on the maintenance
     * thread.
     *
     * @return how many were closed
     */
    public int closeIdleStores() {
        long now = ticker.nanoTime();
        List<Map.Entry<StoreKey, CheckpointStore>> idle = new ArrayList<>();
        for (StoreKey key : stores.keySet()) {
            stores.computeIfPresent(
                    key,
                    (k, e) -> {
                        if (e.streams.get() == 0 && now - e.lastUsedNanos >= e.idleNanos) {
                            idle.add(Map.entry(k, e.store));
                            return null;
                        }
                        return e;
                    });
        }
        for (Map.Entry<StoreKey, CheckpointStore> e : idle) {
            LOG.info("Closing the checkpoint store for {}: unused for a while.", e.getKey());
            closeQuietly(e.getValue(), null);
        }
        return idle.size();
    }

    private synchronized void startMaintenance() {
        if (maintenance == null && !closed) {
            maintenance =
                    new ScheduledThreadPoolExecutor(1, daemonThreads("rcs-maintenance-" + name));
            long period = MAINTENANCE_INTERVAL.toMillis();
            maintenance.scheduleWithFixedDelay(
                    () -> {
                        try {
                            closeIdleStores();
                        } catch (RuntimeException e) {
                            LOG.warn("Closing idle checkpoint stores failed: {}", e.toString());
                        }
                    },
                    period,
                    period,
                    TimeUnit.MILLISECONDS);
        }
    }

    private CheckpointStore createStore(URI root, ReadableConfig config, ResilientSettings settings)
            throws IOException {
        CheckpointStore created = CheckpointStores.forRoot(root, config);
        created.capability(SupportsThrottleSignals.class)
                .ifPresent(
                        signals -> {
                            // Throttling absorbed inside the store (part retries) still slows the
                            // TaskManager.
                            UploadThrottle throttle = throttle(settings.throttle);
                            signals.onThrottleSignal(throttle::onThrottled);
                        });
        // The store's own requests (parts, resends, deletes) are counted with the runtime's.
        created.capability(SupportsRequestEvents.class)
                .ifPresent(events -> events.onRequestEvents(metrics));
        return settings.faultInjection.wrap(created);
    }

    /** The throttle of this JVM for these settings, shared by every upload that uses it. */
    public UploadThrottle throttle(UploadThrottle.Settings settings) {
        checkOpen();
        return throttles.computeIfAbsent(
                settings,
                s -> {
                    UploadThrottle t = new UploadThrottle(s, ticker, Sleeper.SYSTEM);
                    metrics.registerGauge("throttleRateBytesPerSecond", t::currentRate);
                    metrics.registerGauge("throttleConcurrencyLimit", t::concurrencyLimit);
                    metrics.registerGauge("throttleInFlight", t::inFlight);
                    metrics.registerGauge("throttleWaitMillis", () -> t.waitNanos() / 1_000_000);
                    metrics.registerGauge("throttleSignals", t::throttleSignals);
                    return t;
                });
    }

    /**
     * The spill budget of these directories and limits, created on first use: the directories are
     * created then, and files that crashed processes left there deleted.
     *
     * @throws IOException naming the directory that cannot be used
     */
    public SpillSpace spillSpace(List<Path> directories, SpillLimits limits) throws IOException {
        checkOpen();
        SpillKey key = new SpillKey(List.copyOf(directories), limits);
        try {
            return spillSpaces.computeIfAbsent(
                    key,
                    k -> {
                        try {
                            return createSpillSpace(k);
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    private SpillSpace createSpillSpace(SpillKey key) throws IOException {
        SpillSpace space =
                new SpillSpace(key.directories(), key.limits(), FreeSpaceProbe.FILE_STORE, ticker);
        // Once per directory set, before any stream of ours exists there.
        space.deleteStaleFiles();
        metrics.registerGauge("spillReservedBytes", space::reservedBytes);
        metrics.registerGauge("memoryFallbackHeldBytes", () -> space.memoryBudget().used());
        for (Path dir : space.directories()) {
            metrics.registerGauge(
                    "spillFreeBytes_" + dir.toString().replaceAll("[^A-Za-z0-9]", "_"),
                    () -> space.freeBytes(dir));
        }
        return space;
    }

    /**
     * Where cleanup work runs (aborting a part upload, deleting an abandoned attempt's file): never
     * on a task or upload thread that may have been interrupted, where object store clients refuse
     * requests.
     */
    public synchronized ExecutorService cleanupExecutor() {
        checkOpen();
        if (cleanup == null) {
            cleanup =
                    new ThreadPoolExecutor(
                            2,
                            2,
                            60,
                            TimeUnit.SECONDS,
                            new LinkedBlockingQueue<>(),
                            daemonThreads("rcs-cleanup-" + name));
            cleanup.allowCoreThreadTimeOut(true);
        }
        return cleanup;
    }

    /**
     * Threads for the JobManager's {@code _metadata} write attempts: each attempt runs on one, so
     * that a hanging store cannot hold the checkpoint coordinator past the deadline.
     */
    public synchronized ExecutorService metadataAttemptExecutor() {
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

    /**
     * Threads that delete the locations of aborted checkpoints on the JobManager, with retries:
     * Flink may ask for that on the checkpoint coordinator's thread, which must not wait for a
     * store.
     */
    public synchronized ExecutorService locationDeleteExecutor() {
        checkOpen();
        if (locationDeletes == null) {
            locationDeletes =
                    new ThreadPoolExecutor(
                            2,
                            2,
                            60,
                            TimeUnit.SECONDS,
                            new LinkedBlockingQueue<>(),
                            daemonThreads("rcs-location-delete-" + name));
            locationDeletes.allowCoreThreadTimeOut(true);
        }
        return locationDeletes;
    }

    /** The one thread all cleanup sweeps of this JVM share: cleanup is never urgent. */
    public synchronized ExecutorService sweepExecutor() {
        checkOpen();
        if (sweeps == null) {
            sweeps =
                    new ThreadPoolExecutor(
                            1,
                            1,
                            60,
                            TimeUnit.SECONDS,
                            new LinkedBlockingQueue<>(),
                            daemonThreads("rcs-checkpoint-janitor-" + name));
            sweeps.allowCoreThreadTimeOut(true);
        }
        return sweeps;
    }

    /** Parsed {@code _metadata} references, shared by every janitor sweep of this JVM. */
    public CheckpointIndex.MetadataReader metadataReferences() {
        return metadataReferences;
    }

    /** When each job directory was last swept in this JVM (janitor bookkeeping). */
    public Map<String, Long> lastSweeps() {
        return lastSweeps;
    }

    /**
     * Ticker time when this JVM first asked for checkpoint {@code checkpointId} of {@code job}. The
     * TaskManager learns no trigger time from Flink; the first sighting is the earliest moment it
     * can count the checkpoint timeout from, and every later task of the same checkpoint shares it.
     */
    public long firstSeenNanos(JobID job, long checkpointId) {
        return firstSeen.get(new CheckpointKey(job, checkpointId), k -> ticker.nanoTime());
    }

    /**
     * True only the first time this JVM sets up {@code job}'s checkpoint storage: a restart or a
     * rescale (the adaptive scheduler builds a new ExecutionGraph for each) is not a submission.
     */
    public boolean firstStartInThisJvm(JobID job) {
        return startedJobs.asMap().putIfAbsent(job, Boolean.TRUE) == null;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("storage runtime '" + name + "' is closed");
        }
    }

    /**
     * Stops every thread (interrupting uploads and sweeps still running), closes every store,
     * releases the spill directories (their locks, and files left in them) and unregisters the JMX
     * bean. Idempotent; later use of the runtime fails.
     */
    @Override
    public void close() {
        List<ExecutorService> executors;
        ExecutorService cleanupWork;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            executors = new ArrayList<>(uploadExecutors.values());
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
        unregisterMBean.run();
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
            // The aborts and deletes the stopped uploads queued still run, uninterrupted, while the
            // stores are open: they are what keeps the store clean.
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
        IOException failure = null;
        for (StoreKey key : new ArrayList<>(stores.keySet())) {
            StoreEntry entry = stores.remove(key);
            if (entry != null) {
                failure = closeQuietly(entry.store, failure);
            }
        }
        if (failure != null) {
            LOG.warn("Closing the stores of storage runtime '{}' failed", name, failure);
        }
        // Upload threads are stopped: no stream of ours writes into these directories any more.
        for (SpillKey key : new ArrayList<>(spillSpaces.keySet())) {
            SpillSpace space = spillSpaces.remove(key);
            if (space != null) {
                space.close();
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Closes a store; the first failure is returned, later ones are added to it as suppressed. */
    private static IOException closeQuietly(CheckpointStore store, IOException failure) {
        try {
            store.close();
        } catch (IOException | RuntimeException e) {
            IOException io =
                    e instanceof IOException
                            ? (IOException) e
                            : new IOException("closing store " + store.name() + " failed", e);
            if (failure == null) {
                return io;
            }
            failure.addSuppressed(io);
        }
        return failure;
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

    @Override
    public String toString() {
        return "StorageRuntime{" + name + (closed ? ", closed" : "") + '}';
    }

    private record CheckpointKey(JobID job, long checkpointId) {}

    /**
     * Marks {@code store} (one of this runtime's) as used by one more stream until the result is
     * released: a store with an open stream is never closed as idle, however long the stream lives
     * (task-owned state stays open for a checkpoint interval).
     */
    WorkerServices.StoreInUse useStore(CheckpointStore store) {
        for (StoreEntry e : stores.values()) {
            if (e.store == store) {
                e.streams.incrementAndGet();
                AtomicBoolean released = new AtomicBoolean();
                return () -> {
                    if (released.compareAndSet(false, true)) {
                        e.lastUsedNanos = ticker.nanoTime();
                        e.streams.decrementAndGet();
                    }
                };
            }
        }
        return WorkerServices.StoreInUse.NONE;
    }

    /** A store, when it was last asked for, and how many streams use it now. */
    private static final class StoreEntry {
        final CheckpointStore store;
        volatile long idleNanos;
        volatile long lastUsedNanos;
        final AtomicInteger streams = new AtomicInteger();

        StoreEntry(CheckpointStore store, long idleNanos, long nowNanos) {
            this.store = store;
            this.idleNanos = idleNanos;
            this.lastUsedNanos = nowNanos;
        }
    }

    /** Spill directories and limits: one spill budget per distinct pair. */
    private record SpillKey(List<Path> directories, SpillLimits limits) {}
}
