package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.cleanup.RestoreMarker;
import io.github.resilientcheckpoints.compat.FlinkCompat;
import io.github.resilientcheckpoints.metrics.FlinkMetricsBridge;
import io.github.resilientcheckpoints.storage.jm.JobManagerLocations;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import javax.annotation.Nullable;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.filemerging.FileMergingSnapshotManager;
import org.apache.flink.runtime.execution.Environment;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStateToolset;
import org.apache.flink.runtime.state.CheckpointStorageAccess;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;
import org.apache.flink.runtime.state.CheckpointStorageWorkerView;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.NotDuplicatingCheckpointStateToolset;
import org.apache.flink.runtime.state.filesystem.AbstractFsCheckpointStorageAccess;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageAccess;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Composition around Flink's {@link FsCheckpointStorageAccess}: the JobManager side (locations,
 * {@code _metadata}, savepoints, pointers) is Flink's own, with every store call of it retried
 * ({@link JobManagerLocations}), so the directory layout is exactly Flink's; the TaskManager side
 * hands out our retrying, spilling streams for the same directories.
 */
public final class ResilientCheckpointStorageAccess implements CheckpointStorageAccess {

    private static final Logger LOG =
            LoggerFactory.getLogger(ResilientCheckpointStorageAccess.class);

    private final FsCheckpointStorageAccess delegate;
    private final JobID jobId;

    /** {@code <root>/<job-id>}. */
    private final Path checkpointsDirectory;

    private final int inlineThreshold;
    private final int writeBufferSize;
    private final WorkerContext context;
    private final BiConsumer<Path, Long> onCheckpointStart;

    /**
     * Set on a TaskManager's task view (file merging): the submission probe is the JobManager's.
     */
    private volatile boolean workerView;

    /** The per-JVM parts a worker needs, looked up when used (the JobManager never needs them). */
    public interface WorkerContext {
        WorkerServices services() throws IOException;

        /** Ticker time when this JVM first saw the checkpoint. */
        long firstSeenNanos(JobID job, long checkpointId);

        /**
         * JobManager: creates locations with retries and makes their {@code _metadata} stream and
         * deletes ours (retried, deadline-bounded); null leaves the JobManager side to Flink alone.
         */
        @Nullable
        default JobManagerLocations jobManagerLocations() throws IOException {
            return null;
        }

        /**
         * JobManager, on every set-up of the job's checkpoint storage (first submission, and each
         * restart, rescale and failover that builds a new ExecutionGraph): runs Flink's {@code
         * createBaseDirectories}. On a submission, the probe first, and any failure refuses the
         * job; on a restart, rescale or failover, a store in trouble never fails the job here.
         */
        default void setUpJob(JobID job, Path jobDirectory, BaseDirectories createBaseDirectories)
                throws IOException {
            createBaseDirectories.create();
        }
    }

    /** Flink's creation of a job's {@code shared/} and {@code taskowned/} directories. */
    @FunctionalInterface
    public interface BaseDirectories {
        void create() throws IOException;
    }

    public ResilientCheckpointStorageAccess(
            FsCheckpointStorageAccess delegate,
            JobID jobId,
            int inlineThreshold,
            int writeBufferSize,
            WorkerContext context,
            BiConsumer<Path, Long> onCheckpointStart) {
        this.onCheckpointStart = onCheckpointStart;
        this.delegate = delegate;
        this.checkpointsDirectory = FlinkCompat.checkpointsDirectory(delegate);
        this.jobId = jobId;
        this.inlineThreshold = inlineThreshold;
        this.writeBufferSize = writeBufferSize;
        this.context = context;
    }

    // ------------------------------------------------------------------ JobManager side: Flink's

    @Override
    public boolean supportsHighlyAvailableStorage() {
        return delegate.supportsHighlyAvailableStorage();
    }

    @Override
    public boolean hasDefaultSavepointLocation() {
        return delegate.hasDefaultSavepointLocation();
    }

    /**
     * Called by the JobManager when it starts the job from a checkpoint or savepoint ({@code
     * CheckpointCoordinator.restoreSavepoint}): besides resolving it as Flink does, this leaves a
     * {@link RestoreMarker} in the job's directory so that cleanup keeps the restored checkpoint
     * until this job has one of its own (NO_CLAIM restores reference it from no {@code _metadata}).
     */
    @Override
    public CompletedCheckpointStorageLocation resolveCheckpoint(String externalPointer)
            throws IOException {
        CompletedCheckpointStorageLocation location = delegate.resolveCheckpoint(externalPointer);
        try {
            RestoreMarker.write(checkpointsDirectory, location.getExternalPointer());
        } catch (IOException | RuntimeException e) {
            // The restore must not fail for cleanup's sake; cleanup then cannot see this
            // dependency.
            LOG.warn(
                    "Could not record in {} that job {} was restored from {} ({}); cleanup will not know that"
                            + " this job needs it until its first checkpoint completes",
                    checkpointsDirectory,
                    jobId,
                    location.getExternalPointer(),
                    e.toString());
        }
        return location;
    }

    /**
     * The JobManager calls this whenever it builds the job's checkpoint coordinator: at submission,
     * and again on each restart or rescale under the adaptive scheduler and on each JobManager
     * failover. Only a first submission is probed, and only there a failure refuses the job (see
     * {@link SubmissionProbe}). TaskManagers call it only with file merging on, after {@link
     * #toFileMergingStorage}: they do not probe.
     */
    @Override
    public void initializeBaseLocationsForCheckpoint() throws IOException {
        if (workerView) {
            delegate.initializeBaseLocationsForCheckpoint();
        } else {
            context.setUpJob(
                    jobId, checkpointsDirectory, delegate::initializeBaseLocationsForCheckpoint);
        }
    }

    /**
     * Flink's own location and {@code chk-N} directory, created with retries when the store fails
     * (bounded by the checkpoint's deadline).
     */
    @Override
    public CheckpointStorageLocation initializeLocationForCheckpoint(long checkpointId)
            throws IOException {
        JobManagerLocations locations = context.jobManagerLocations();
        CheckpointStorageLocation location;
        if (locations == null) {
            location = delegate.initializeLocationForCheckpoint(checkpointId);
        } else {
            // The directory Flink creates
            // (AbstractFsCheckpointStorageAccess.createCheckpointDirectory).
            Path dir =
                    new Path(
                            checkpointsDirectory,
                            AbstractFsCheckpointStorageAccess.CHECKPOINT_DIR_PREFIX + checkpointId);
            location =
                    locations.initialize(
                            "create checkpoint directory",
                            dir,
                            () -> delegate.initializeLocationForCheckpoint(checkpointId));
        }
        // JobManager side, once per checkpoint: the janitor (if enabled) may sweep in the
        // background.
        onCheckpointStart.accept(checkpointsDirectory, checkpointId);
        return location;
    }

    /**
     * Flink's own savepoint location and directory (a new random name on every attempt, as Flink
     * does), created with retries when the store fails.
     */
    @Override
    public CheckpointStorageLocation initializeLocationForSavepoint(
            long checkpointId, @Nullable String externalLocationPointer) throws IOException {
        JobManagerLocations locations = context.jobManagerLocations();
        Path base =
                externalLocationPointer != null
                        ? new Path(externalLocationPointer)
                        : delegate.getDefaultSavepointDirectory();
        if (locations == null || base == null) {
            // No target: Flink's own error ("No savepoint location given ...").
            return delegate.initializeLocationForSavepoint(checkpointId, externalLocationPointer);
        }
        return locations.initialize(
                "create a savepoint directory under",
                base,
                () ->
                        delegate.initializeLocationForSavepoint(
                                checkpointId, externalLocationPointer));
    }

    // ------------------------------------------------------------------ TaskManager side: ours

    @Override
    public CheckpointStreamFactory resolveCheckpointStorageLocation(
            long checkpointId, CheckpointStorageLocationReference reference) throws IOException {
        // Flink resolves the directories (default layout or a savepoint's encoded path).
        CheckpointStreamFactory resolved =
                delegate.resolveCheckpointStorageLocation(checkpointId, reference);
        if (!(resolved instanceof FsCheckpointStorageLocation)) {
            throw new IOException(
                    "Unexpected location type from Flink: " + resolved.getClass().getName());
        }
        FsCheckpointStorageLocation location = (FsCheckpointStorageLocation) resolved;
        WorkerServices s = services();
        long deadline = s.deadlineFrom(context.firstSeenNanos(jobId, checkpointId));
        return new ResilientCheckpointStreamFactory(
                location.getCheckpointDirectory(),
                location.getSharedStateDirectory(),
                inlineThreshold,
                writeBufferSize,
                s,
                deadline);
    }

    @Override
    public CheckpointStateOutputStream createTaskOwnedStateStream() throws IOException {
        WorkerServices s = services();
        // Task-owned state belongs to no checkpoint: its budget starts when its upload does.
        return new ResilientStateOutputStream(
                new Path(
                        checkpointsDirectory,
                        AbstractFsCheckpointStorageAccess.CHECKPOINT_TASK_OWNED_STATE_DIR),
                false,
                inlineThreshold,
                Math.max(Math.max(1, writeBufferSize), inlineThreshold),
                s,
                s.budgetFromUploadStart());
    }

    @Override
    public CheckpointStateToolset createTaskOwnedCheckpointStateToolset() {
        return new NotDuplicatingCheckpointStateToolset();
    }

    /**
     * File merging would replace our streams with Flink's merging ones (no retries, no spill). We
     * keep our streams: with this storage, {@code execution.checkpointing.file-merging.enabled}
     * does not change where or how state is written. It is, however, the one path on which Flink
     * hands a checkpoint storage a task's {@link Environment}, and so a metric group: the storage's
     * counters are published on the TaskManager's metric group from here.
     */
    @Override
    public CheckpointStorageWorkerView toFileMergingStorage(
            FileMergingSnapshotManager mergingSnapshotManager, Environment environment)
            throws IOException {
        if (FILE_MERGING_NOTICE.compareAndSet(false, true)) {
            LOG.info(
                    "'{}' is set: Resilient Checkpoint Storage keeps"
                            + " writing one file per state stream (retried, spilled), and publishes its counters under"
                            + " the TaskManager metric group '{}'.",
                    CheckpointingOptions.FILE_MERGING_ENABLED.key(),
                    FlinkMetricsBridge.GROUP);
        }
        FlinkMetricsBridge.register(
                environment.getMetricGroup().parent().parent(), services().metrics());
        workerView = true;
        return this;
    }

    private static final AtomicBoolean FILE_MERGING_NOTICE = new AtomicBoolean();

    /**
     * Looked up for every checkpoint and stream, not once per task: the lookup is what tells the
     * runtime a store is still in use, and it closes stores nobody asked for in a while.
     */
    private WorkerServices services() throws IOException {
        return context.services();
    }

    public FsCheckpointStorageAccess delegate() {
        return delegate;
    }
}
