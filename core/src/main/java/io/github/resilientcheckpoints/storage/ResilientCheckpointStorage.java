package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.cleanup.CheckpointJanitor;
import io.github.resilientcheckpoints.storage.jm.JobManagerLocations;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.UploadThrottle;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.annotation.Nullable;
import org.apache.flink.annotation.VisibleForTesting;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStorage;
import org.apache.flink.runtime.state.CheckpointStorageAccess;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.ConfigurableCheckpointStorage;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageAccess;
import org.apache.flink.runtime.state.storage.FileSystemCheckpointStorage;
import org.slf4j.LoggerFactory;

/**
 * Checkpoint storage that writes plain Flink checkpoints (the layout, handles and {@code _metadata}
 * of {@link FileSystemCheckpointStorage}, which it wraps) and uploads task state with local staging
 * and retries. Created by {@link ResilientCheckpointStorageFactory} from the configuration, or in
 * code (Flink then Java-serializes it into the job).
 *
 * <p>Flink serializes and rebuilds this object per task; everything shared lives in the JVM's
 * {@link StorageRuntime}.
 */
public final class ResilientCheckpointStorage
        implements CheckpointStorage, ConfigurableCheckpointStorage {

    private static final long serialVersionUID = 1L;

    private final FileSystemCheckpointStorage delegate;
    private final ResilientSettings settings;
    private final Configuration storeConfig;

    /** Null except in tests: a deserialized storage uses the JVM's shared runtime. */
    @Nullable private final transient StorageRuntime runtime;

    private ResilientCheckpointStorage(
            FileSystemCheckpointStorage delegate,
            ResilientSettings settings,
            Configuration storeConfig,
            @Nullable StorageRuntime runtime) {
        this.delegate = delegate;
        this.settings = settings;
        this.storeConfig = storeConfig;
        this.runtime = runtime;
    }

    /**
     * Builds the storage from Flink's configuration: {@code execution.checkpointing.dir} and
     * Flink's threshold/buffer keys for the wrapped storage, our keys for the rest, all validated
     * here.
     */
    public static ResilientCheckpointStorage fromConfig(
            ReadableConfig config, ClassLoader classLoader) throws IllegalConfigurationException {
        ResilientSettings settings = ResilientSettings.fromConfig(config);
        FileSystemCheckpointStorage delegate =
                FileSystemCheckpointStorage.createFromConfig(config, classLoader);
        // The store's own keys fail here, at job submission, not at the first checkpoint.
        CheckpointStores.validate(delegate.getCheckpointPath().toUri(), config);
        Configuration copy =
                config instanceof Configuration
                        ? new Configuration((Configuration) config)
                        : Configuration.fromMap(config.toMap());
        return new ResilientCheckpointStorage(delegate, settings, copy, null);
    }

    /**
     * A storage set in code gets the cluster's configuration here (Flink's {@code
     * CheckpointStorageLoader}), as Flink's own storage does: what the application set wins, the
     * rest comes from the cluster, e.g. {@code execution.checkpointing.savepoint-dir} for a {@code
     * flink stop} without a target, and the store's keys ({@code s3.*}) the application did not
     * set. Our own settings were read and checked when the application built the storage and stay.
     */
    @Override
    public ResilientCheckpointStorage configure(ReadableConfig config, ClassLoader classLoader)
            throws IllegalConfigurationException {
        Configuration merged = Configuration.fromMap(config.toMap());
        merged.addAll(storeConfig);
        return new ResilientCheckpointStorage(
                delegate.configure(config, classLoader), settings, merged, runtime);
    }

    /**
     * This storage, using {@code runtime} instead of the JVM's shared one. Public: tests of other
     * packages and modules use it.
     */
    @VisibleForTesting
    public ResilientCheckpointStorage withRuntime(StorageRuntime runtime) {
        return new ResilientCheckpointStorage(delegate, settings, storeConfig, runtime);
    }

    @Override
    public CompletedCheckpointStorageLocation resolveCheckpoint(String externalPointer)
            throws IOException {
        return delegate.resolveCheckpoint(externalPointer);
    }

    @Override
    public CheckpointStorageAccess createCheckpointStorage(JobID jobId) throws IOException {
        CheckpointStorageAccess access = delegate.createCheckpointStorage(jobId);
        if (!(access instanceof FsCheckpointStorageAccess)) {
            throw new IOException(
                    "Unexpected access type from Flink: " + access.getClass().getName());
        }
        return new ResilientCheckpointStorageAccess(
                (FsCheckpointStorageAccess) access,
                jobId,
                delegate.getMinFileSizeThreshold(),
                delegate.getWriteBufferSize(),
                new SharedWorkerContext(),
                settings.cleanup.janitorEnabled() ? this::checkpointStarting : (dir, id) -> {});
    }

    public FileSystemCheckpointStorage delegate() {
        return delegate;
    }

    public ResilientSettings settings() {
        return settings;
    }

    /** The runtime this storage uses in this JVM. */
    public StorageRuntime runtime() {
        return runtime != null ? runtime : StorageRuntime.shared();
    }

    /** The store of these settings in this JVM (created on first use). */
    CheckpointStore store() throws IOException {
        return runtime().store(delegate.getCheckpointPath().toUri(), storeConfig, settings);
    }

    private void checkpointStarting(Path jobDirectory, long checkpointId) {
        try {
            StorageRuntime rt = runtime();
            new CheckpointJanitor(
                            store(),
                            rt.metrics(),
                            settings.maxConcurrentCheckpoints,
                            settings.cleanup.grace().toMillis(),
                            settings.cleanup.janitorInterval().toMillis(),
                            System::currentTimeMillis,
                            settings.cleanup.honouredRoots().stream().map(Path::new).toList(),
                            rt.sweepExecutor(),
                            rt.lastSweeps(),
                            rt.metadataReferences())
                    .checkpointStarting(jobDirectory, checkpointId);
        } catch (IOException | RuntimeException e) {
            // Cleanup must never get in the way of a checkpoint.
            LoggerFactory.getLogger(ResilientCheckpointStorage.class)
                    .warn("Checkpoint janitor unavailable for {}: {}", jobDirectory, e.toString());
        }
    }

    /**
     * The throttle of this JVM for these settings. Public: tests of other packages and modules use
     * it.
     */
    @VisibleForTesting
    public UploadThrottle throttle() {
        return runtime().throttle(settings.throttle);
    }

    @Override
    public String toString() {
        return "ResilientCheckpointStorage{dir="
                + delegate.getCheckpointPath()
                + ", "
                + settings
                + '}';
    }

    private final class SharedWorkerContext
            implements ResilientCheckpointStorageAccess.WorkerContext {
        @Override
        public WorkerServices services() throws IOException {
            StorageRuntime rt = runtime();
            CheckpointStore store = store();
            RetryingUploader uploader =
                    new RetryingUploader(
                            store,
                            settings.retryPolicy(),
                            rt.uploadExecutor(settings.uploadThreads),
                            rt.ticker(),
                            RetryingUploader.threadLocalRandom(),
                            rt.metrics(),
                            settings.redactor(),
                            rt.throttle(settings.throttle),
                            rt.cleanupExecutor());
            WorkerServices services;
            try {
                services =
                        new WorkerServices(
                                uploader,
                                rt.spillSpace(settings.spillPaths(), settings.spillLimits),
                                rt.metrics(),
                                rt.ticker(),
                                settings.uploadBudgetNanos(),
                                () -> rt.useStore(store));
            } catch (IOException e) {
                throw ResilientSettings.spillSpaceError(e);
            }
            return services;
        }

        @Override
        public long firstSeenNanos(JobID job, long checkpointId) {
            return runtime().firstSeenNanos(job, checkpointId);
        }

        @Override
        public void setUpJob(
                JobID job,
                Path jobDirectory,
                ResilientCheckpointStorageAccess.BaseDirectories createBaseDirectories)
                throws IOException {
            StorageRuntime rt = runtime();
            boolean recovery;
            if (!rt.firstStartInThisJvm(job)) {
                // A restart or rescale: the job was accepted once; a store in trouble now is for
                // the retries, never a reason to refuse it.
                recovery = true;
            } else if (settings.probeAtSubmission) {
                recovery =
                        new SubmissionProbe(
                                        store(),
                                        settings.retryPolicy(),
                                        rt.metadataAttemptExecutor(),
                                        rt.ticker(),
                                        settings.redactor(),
                                        settings.probeTimeout.toNanos())
                                .probeFirstStart(jobDirectory, settings.highAvailability);
            } else {
                recovery = false;
            }
            if (!recovery) {
                createBaseDirectories.create();
                return;
            }
            recreateBaseDirectories(jobDirectory, createBaseDirectories, rt);
        }

        /**
         * The directories exist since the job's first start; Flink asks for them again on every
         * rebuild. A store that is down (an HDFS NameNode refusing even the mkdirs of an existing
         * directory) must not fail a running job here: the wait is bounded and a failure logged;
         * the checkpoints that follow retry their own directories.
         */
        private void recreateBaseDirectories(
                Path jobDirectory,
                ResilientCheckpointStorageAccess.BaseDirectories createBaseDirectories,
                StorageRuntime rt)
                throws InterruptedIOException {
            CompletableFuture<Void> done = new CompletableFuture<>();
            try {
                rt.metadataAttemptExecutor()
                        .execute(
                                () -> {
                                    try {
                                        createBaseDirectories.create();
                                        done.complete(null);
                                    } catch (Throwable t) {
                                        done.completeExceptionally(t);
                                    }
                                });
                done.get(settings.jobManagerMaxBlockingNanos(), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException(
                        "interrupted while creating the checkpoint directories of "
                                + settings.redactor().redact(jobDirectory.toString()));
            } catch (ExecutionException | TimeoutException | RuntimeException e) {
                LoggerFactory.getLogger(ResilientCheckpointStorage.class)
                        .warn(
                                "Could not create the checkpoint directories of {} while the job is"
                                        + " restarted, rescaled or recovered ({}); it is not failed for"
                                        + " that: they exist since its first start, and each checkpoint"
                                        + " retries its own directory.",
                                settings.redactor().redact(jobDirectory.toString()),
                                e instanceof TimeoutException
                                        ? "no answer within "
                                                + ResilientCheckpointOptions.JOBMANAGER_MAX_BLOCKING
                                                        .key()
                                        : settings.redactor()
                                                .describe(
                                                        e instanceof ExecutionException
                                                                ? e.getCause()
                                                                : e));
            }
        }

        @Override
        public JobManagerLocations jobManagerLocations() throws IOException {
            StorageRuntime runtime = runtime();
            return new JobManagerLocations(
                    delegate.getCheckpointPath().toUri(),
                    root -> runtime.store(root, storeConfig, settings),
                    runtime.metadataAttemptExecutor(),
                    runtime.locationDeleteExecutor(),
                    settings.retryPolicy(),
                    runtime.ticker(),
                    runtime.metrics(),
                    settings.redactor(),
                    settings.uploadBudgetNanos(),
                    settings.jobManagerMaxBlockingNanos());
        }
    }
}
