package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.cleanup.CheckpointJanitor;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.store.FaultInjectingStore;
import io.github.resilientcheckpoints.store.SupportsThrottleSignals;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.Sleeper;
import io.github.resilientcheckpoints.upload.UploadRuntime;
import io.github.resilientcheckpoints.upload.UploadThrottle;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.runtime.state.CheckpointStorage;
import org.apache.flink.runtime.state.CheckpointStorageAccess;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageAccess;
import org.apache.flink.runtime.state.storage.FileSystemCheckpointStorage;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Checkpoint storage that writes plain Flink checkpoints (the layout, handles and {@code _metadata}
 * of {@link FileSystemCheckpointStorage}, which it wraps) and uploads task state with local staging
 * and retries. Created by {@link ResilientCheckpointStorageFactory} from the configuration.
 *
 * <p>Flink serializes and rebuilds this object per task; everything shared lives in the per-JVM
 * {@link UploadRuntime}.
 */
public final class ResilientCheckpointStorage implements CheckpointStorage {

    private static final long serialVersionUID = 1L;

    /** One store per checkpoint root and fault setting in this JVM (adapters hold clients). */
    private static final Map<String, CheckpointStore> STORES = new ConcurrentHashMap<>();

    /** One throttle per throttle setting in this JVM: shared by every upload that uses it. */
    private static final Map<UploadThrottle.Settings, UploadThrottle> THROTTLES = new ConcurrentHashMap<>();

    /** One spill budget per set of spill directories and limits in this JVM. */
    private static final Map<String, SpillSpace> SPILL_SPACES = new ConcurrentHashMap<>();

    private final FileSystemCheckpointStorage delegate;
    private final ResilientSettings settings;
    private final Configuration storeConfig;

    private ResilientCheckpointStorage(
            FileSystemCheckpointStorage delegate, ResilientSettings settings, Configuration storeConfig) {
        this.delegate = delegate;
        this.settings = settings;
        this.storeConfig = storeConfig;
    }

    /**
     * Builds the storage from Flink's configuration: {@code execution.checkpointing.dir} and Flink's
     * threshold/buffer keys for the wrapped storage, our keys for the rest, all validated here.
     */
    public static ResilientCheckpointStorage fromConfig(ReadableConfig config, ClassLoader classLoader)
            throws IllegalConfigurationException {
        ResilientSettings settings = ResilientSettings.fromConfig(config);
        FileSystemCheckpointStorage delegate = FileSystemCheckpointStorage.createFromConfig(config, classLoader);
        Configuration copy = config instanceof Configuration
                ? new Configuration((Configuration) config) : new Configuration();
        return new ResilientCheckpointStorage(delegate, settings, copy);
    }

    @Override
    public CompletedCheckpointStorageLocation resolveCheckpoint(String externalPointer) throws IOException {
        return delegate.resolveCheckpoint(externalPointer);
    }

    @Override
    public CheckpointStorageAccess createCheckpointStorage(JobID jobId) throws IOException {
        CheckpointStorageAccess access = delegate.createCheckpointStorage(jobId);
        if (!(access instanceof FsCheckpointStorageAccess)) {
            throw new IOException("Unexpected access type from Flink: " + access.getClass().getName());
        }
        return new ResilientCheckpointStorageAccess(
                (FsCheckpointStorageAccess) access,
                jobId,
                delegate.getMinFileSizeThreshold(),
                delegate.getWriteBufferSize(),
                new SharedWorkerContext(),
                settings.janitorEnabled ? this::checkpointStarting : (dir, id) -> { });
    }

    public FileSystemCheckpointStorage delegate() {
        return delegate;
    }

    public ResilientSettings settings() {
        return settings;
    }

    /** The runtime this storage's TaskManager-side streams use in this JVM. */
    public UploadRuntime runtime() {
        return UploadRuntime.shared(settings.uploadThreads);
    }

    private CheckpointStore store() throws IOException {
        String key = delegate.getCheckpointPath().toUri() + "|faults=" + settings.faultInjectionRatio
                + "/" + settings.faultInjectionThrottledRatio;
        CheckpointStore store = STORES.get(key);
        if (store == null) {
            CheckpointStore created = CheckpointStores.forRoot(delegate.getCheckpointPath().toUri(), storeConfig);
            if (created instanceof SupportsThrottleSignals) {
                // Throttling absorbed inside the store (part retries) still slows the TaskManager.
                UploadThrottle throttle = throttle(runtime());
                ((SupportsThrottleSignals) created).onThrottleSignal(throttle::onThrottled);
            }
            if (settings.faultInjectionRatio > 0 || settings.faultInjectionThrottledRatio > 0) {
                created = new FaultInjectingStore(
                        created, settings.faultInjectionRatio, settings.faultInjectionThrottledRatio);
            }
            CheckpointStore raced = STORES.putIfAbsent(key, created);
            if (raced != null) {
                created.close();
                store = raced;
            } else {
                store = created;
            }
        }
        return store;
    }

    private transient volatile CheckpointJanitor janitor;

    private void checkpointStarting(org.apache.flink.core.fs.Path jobDirectory, long checkpointId) {
        try {
            CheckpointJanitor j = janitor;
            if (j == null) {
                j = new CheckpointJanitor(store(), runtime().metrics(),
                        settings.maxConcurrentCheckpoints, settings.cleanupGrace.toMillis(),
                        settings.janitorInterval.toMillis(), System::currentTimeMillis,
                        settings.honouredRoots.stream().map(org.apache.flink.core.fs.Path::new).toList());
                janitor = j;
            }
            j.checkpointStarting(jobDirectory, checkpointId);
        } catch (IOException | RuntimeException e) {
            // Cleanup must never get in the way of a checkpoint.
            org.slf4j.LoggerFactory.getLogger(ResilientCheckpointStorage.class)
                    .warn("Checkpoint janitor unavailable for {}: {}", jobDirectory, e.toString());
        }
    }

    /** The throttle of this JVM for these settings (exposed for tests and diagnostics). */
    public UploadThrottle throttle() {
        return throttle(runtime());
    }

    private UploadThrottle throttle(UploadRuntime runtime) {
        return THROTTLES.computeIfAbsent(settings.throttle, s -> {
            UploadThrottle t = new UploadThrottle(s, runtime.ticker(), Sleeper.SYSTEM);
            runtime.metrics().registerGauge("throttleRateBytesPerSecond", t::currentRate);
            runtime.metrics().registerGauge("throttleConcurrencyLimit", t::concurrencyLimit);
            runtime.metrics().registerGauge("throttleInFlight", t::inFlight);
            runtime.metrics().registerGauge("throttleWaitMillis", () -> t.waitNanos() / 1_000_000);
            runtime.metrics().registerGauge("throttleSignals", t::throttleSignals);
            return t;
        });
    }

    private SpillSpace spillSpace(UploadRuntime runtime) throws IOException {
        String key = settings.spillDirectories + "|" + settings.spillLimits;
        SpillSpace space = SPILL_SPACES.get(key);
        if (space != null) {
            return space;
        }
        synchronized (SPILL_SPACES) {
            space = SPILL_SPACES.get(key);
            if (space == null) {
                space = new SpillSpace(settings.spillPaths(), settings.spillLimits,
                        FreeSpaceProbe.FILE_STORE, runtime.ticker());
                // Once per JVM and directory set, before any stream of ours exists there.
                space.deleteStaleFiles();
                SpillSpace published = space;
                runtime.metrics().registerGauge("spillReservedBytes", published::reservedBytes);
                runtime.metrics().registerGauge("memoryFallbackHeldBytes", () -> published.memoryBudget().used());
                for (java.nio.file.Path dir : space.directories()) {
                    runtime.metrics().registerGauge(
                            "spillFreeBytes_" + dir.toString().replaceAll("[^A-Za-z0-9]", "_"),
                            () -> published.freeBytes(dir));
                }
                SPILL_SPACES.put(key, space);
            }
            return space;
        }
    }

    @Override
    public String toString() {
        return "ResilientCheckpointStorage{dir=" + delegate.getCheckpointPath() + ", " + settings + '}';
    }

    private final class SharedWorkerContext implements ResilientCheckpointStorageAccess.WorkerContext {
        @Override
        public WorkerServices services() throws IOException {
            UploadRuntime runtime = runtime();
            RetryingUploader uploader = new RetryingUploader(
                    store(),
                    settings.retryPolicy(),
                    runtime.executor(),
                    runtime.ticker(),
                    RetryingUploader.threadLocalRandom(),
                    runtime.metrics(),
                    settings.redactor(),
                    throttle(runtime));
            return new WorkerServices(
                    uploader,
                    spillSpace(runtime),
                    runtime.metrics(),
                    runtime.ticker(),
                    settings.uploadBudgetNanos());
        }

        @Override
        public long firstSeenNanos(JobID job, long checkpointId) {
            return runtime().firstSeenNanos(job, checkpointId);
        }

        @Override
        public org.apache.flink.runtime.state.CheckpointStorageLocation jobManagerLocation(
                org.apache.flink.runtime.state.CheckpointStorageLocation flink) throws IOException {
            UploadRuntime runtime = runtime();
            return new io.github.resilientcheckpoints.storage.jm.JobManagerLocations(
                    delegate.getCheckpointPath().toUri(), ResilientCheckpointStorage.this::store, storeConfig,
                    settings.retryPolicy(), runtime.ticker(), runtime.metrics(), settings.redactor(),
                    settings.uploadBudgetNanos()).wrap(flink);
        }
    }
}
