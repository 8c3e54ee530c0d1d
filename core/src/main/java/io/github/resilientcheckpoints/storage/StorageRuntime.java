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
import javax.annotation.concurrent.GuardedBy;
import javax.annotation.concurrent.ThreadSafe;
import org.apache.flink.annotation.VisibleForTesting;
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

    private final RuntimeThreads threads;
    private final RuntimeStores stores;
    private final Map<UploadThrottle.Settings, UploadThrottle> throttles =
            new ConcurrentHashMap<>();
    private final Map<SpillKey, SpillSpace> spillSpaces = new ConcurrentHashMap<>();
    private final Map<String, Long> lastSweeps = new ConcurrentHashMap<>();
    private final CheckpointIndex.MetadataReader metadataReferences =
            new CachedMetadataReader(StorageRuntime.class.getClassLoader());

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
        this.threads = new RuntimeThreads(name);
        this.stores = new RuntimeStores(name, ticker);
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
        return this.threads.upload(threads);
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
        CheckpointStore store =
                stores.get(
                        key, idleNanos, () -> createStore(root, config, settings), this::checkOpen);
        startMaintenance();
        return store;
    }

    /** The keys of the stores open now (no secret in them). */
    @VisibleForTesting
    List<String> storeKeys() {
        return stores.keys();
    }

    /**
     * Closes the stores nobody asked for in their idle time; runs every minute on the maintenance
     * thread.
     *
     * @return how many were closed
     */
    @VisibleForTesting
    int closeIdleStores() {
        return stores.closeIdle();
    }

    private void startMaintenance() {
        threads.startMaintenance(
                () -> {
                    try {
                        closeIdleStores();
                    } catch (RuntimeException e) {
                        LOG.warn("Closing idle checkpoint stores failed: {}", e.toString());
                    }
                },
                MAINTENANCE_INTERVAL);
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
    public ExecutorService cleanupExecutor() {
        checkOpen();
        return threads.cleanup();
    }

    /**
     * Threads for the JobManager's {@code _metadata} write attempts: each attempt runs on one, so
     * that a hanging store cannot hold the checkpoint coordinator past the deadline.
     */
    public ExecutorService metadataAttemptExecutor() {
        checkOpen();
        return threads.metadataAttempts();
    }

    /**
     * Threads that delete the locations of aborted checkpoints on the JobManager, with retries:
     * Flink may ask for that on the checkpoint coordinator's thread, which must not wait for a
     * store.
     */
    public ExecutorService locationDeleteExecutor() {
        checkOpen();
        return threads.locationDeletes();
    }

    /** The one thread all cleanup sweeps of this JVM share: cleanup is never urgent. */
    public ExecutorService sweepExecutor() {
        checkOpen();
        return threads.sweeps();
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
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        unregisterMBean.run();
        boolean interrupted = threads.close();
        stores.closeAll();
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
        return stores.use(store);
    }

    /** Spill directories and limits: one spill budget per distinct pair. */
    private record SpillKey(List<Path> directories, SpillLimits limits) {}
}
