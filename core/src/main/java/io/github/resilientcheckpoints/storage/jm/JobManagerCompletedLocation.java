package io.github.resilientcheckpoints.storage.jm;

import java.io.IOException;
import javax.annotation.Nullable;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCompletedCheckpointStorageLocation;

/**
 * Flink's completed checkpoint location whose disposal is retried: when Flink discards the
 * checkpoint (subsumed, or on shutdown), each attempt is Flink's own {@link
 * FsCompletedCheckpointStorageLocation#disposeStorageLocation()} — a non-recursive delete of the
 * exclusive directory, after Flink discarded the state handles — repeated when the store fails.
 *
 * <p>This object is never written into {@code _metadata} (that file holds the checkpoint's state
 * handles, not its location); it lives on the JobManager and, with high availability, is
 * Java-serialized with the completed checkpoint into the HA store. After such a round trip the
 * retry machinery (transient) is gone and disposal is Flink's own, unretried.
 */
public final class JobManagerCompletedLocation extends FsCompletedCheckpointStorageLocation {

    private static final long serialVersionUID = 1L;

    @Nullable private final transient LocationDeletes deletes;

    JobManagerCompletedLocation(
            FileSystem fs,
            Path exclusiveCheckpointDir,
            FileStateHandle metadataFileHandle,
            String externalPointer,
            LocationDeletes deletes) {
        super(fs, exclusiveCheckpointDir, metadataFileHandle, externalPointer);
        this.deletes = deletes;
    }

    @Override
    public void disposeStorageLocation() throws IOException {
        if (deletes == null) {
            super.disposeStorageLocation();
            return;
        }
        // Flink calls this on its I/O executor (CheckpointsCleaner), after discarding the state.
        deletes.delete(
                "delete checkpoint directory",
                getExclusiveCheckpointDir(),
                super::disposeStorageLocation);
    }
}
