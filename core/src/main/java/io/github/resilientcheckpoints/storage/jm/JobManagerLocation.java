package io.github.resilientcheckpoints.storage.jm;

import java.io.IOException;
import java.util.Collection;
import java.util.List;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;

/**
 * A checkpoint or savepoint location on the JobManager: Flink's {@link FsCheckpointStorageLocation}
 * (same directories, reference and master-state streams) whose {@code _metadata} stream is ours,
 * and whose deletes are Flink's own, retried.
 */
public final class JobManagerLocation implements CheckpointStorageLocation {

    private final FsCheckpointStorageLocation flink;
    private final MetadataWriter writer;
    private final long deadlineNanos;
    private final int maxBufferedBytes;
    private final LocationDeletes deletes;

    JobManagerLocation(
            FsCheckpointStorageLocation flink,
            MetadataWriter writer,
            long deadlineNanos,
            int maxBufferedBytes,
            LocationDeletes deletes) {
        this.flink = flink;
        this.deletes = deletes;
        this.writer = writer;
        this.deadlineNanos = deadlineNanos;
        this.maxBufferedBytes = maxBufferedBytes;
    }

    @Override
    public CheckpointMetadataOutputStream createMetadataOutputStream() {
        return new ResilientMetadataOutputStream(
                writer,
                flink.getMetadataFilePath(),
                flink.getCheckpointDirectory(),
                deadlineNanos,
                maxBufferedBytes,
                deletes);
    }

    /**
     * Flink's own delete of the aborted checkpoint's directory (recursive: nothing in an aborted
     * {@code chk-N} is referenced by any checkpoint), retried on a background thread: Flink may
     * call this on the checkpoint coordinator's thread, which must not wait for the store.
     */
    @Override
    public void disposeOnFailure() {
        deletes.deleteLater(
                "delete aborted checkpoint directory",
                flink.getCheckpointDirectory(),
                flink::disposeOnFailure);
    }

    @Override
    public CheckpointStorageLocationReference getLocationReference() {
        return flink.getLocationReference();
    }

    @Override
    public CheckpointStateOutputStream createCheckpointStateOutputStream(
            CheckpointedStateScope scope) throws IOException {
        return flink.createCheckpointStateOutputStream(scope);
    }

    @Override
    public boolean canFastDuplicate(StreamStateHandle stateHandle, CheckpointedStateScope scope)
            throws IOException {
        return flink.canFastDuplicate(stateHandle, scope);
    }

    @Override
    public List<StreamStateHandle> duplicate(
            List<StreamStateHandle> stateHandles, CheckpointedStateScope scope) throws IOException {
        return flink.duplicate(stateHandles, scope);
    }

    @Override
    public void reusePreviousStateHandle(Collection<? extends StreamStateHandle> previousHandle) {
        flink.reusePreviousStateHandle(previousHandle);
    }

    @Override
    public boolean couldReuseStateHandle(StreamStateHandle stateHandle) {
        return flink.couldReuseStateHandle(stateHandle);
    }

    /** Flink's location underneath. */
    public FsCheckpointStorageLocation flinkLocation() {
        return flink;
    }

    long deadlineNanos() {
        return deadlineNanos;
    }

    @Override
    public String toString() {
        return "JobManagerLocation{" + flink + '}';
    }
}
