package io.github.resilientcheckpoints.storage;

import java.util.List;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.StreamStateHandle;

/**
 * Creates {@link ResilientStateOutputStream}s for one checkpoint (or savepoint) location, using the
 * directories Flink's own location resolved: {@code chk-N} for exclusive state, {@code shared} for
 * shared state. Handle paths follow Flink's rule: relative only for exclusive state.
 */
public final class ResilientCheckpointStreamFactory implements CheckpointStreamFactory {

    private final Path exclusiveDirectory;
    private final Path sharedDirectory;
    private final int inlineThreshold;
    private final int bufferSize;
    private final WorkerServices services;
    private final long deadlineNanos;

    public ResilientCheckpointStreamFactory(
            Path exclusiveDirectory,
            Path sharedDirectory,
            int inlineThreshold,
            int bufferSize,
            WorkerServices services,
            long deadlineNanos) {
        this.exclusiveDirectory = exclusiveDirectory;
        this.sharedDirectory = sharedDirectory;
        this.inlineThreshold = inlineThreshold;
        this.bufferSize = Math.max(Math.max(1, bufferSize), inlineThreshold);
        this.services = services;
        this.deadlineNanos = deadlineNanos;
    }

    @Override
    public ResilientStateOutputStream createCheckpointStateOutputStream(
            CheckpointedStateScope scope) {
        boolean exclusive = scope == CheckpointedStateScope.EXCLUSIVE;
        return new ResilientStateOutputStream(
                exclusive ? exclusiveDirectory : sharedDirectory,
                exclusive,
                inlineThreshold,
                bufferSize,
                services,
                deadlineNanos);
    }

    /** Server-side copies would bypass our upload path; state is always written through streams. */
    @Override
    public boolean canFastDuplicate(StreamStateHandle stateHandle, CheckpointedStateScope scope) {
        return false;
    }

    @Override
    public List<StreamStateHandle> duplicate(
            List<StreamStateHandle> stateHandles, CheckpointedStateScope scope) {
        throw new IllegalArgumentException(
                "Resilient Checkpoint Storage does not duplicate state handles (canFastDuplicate is false).");
    }

    @Override
    public String toString() {
        return "ResilientCheckpointStreamFactory @ " + exclusiveDirectory;
    }
}
