package io.github.resilientcheckpoints.compat;

import java.util.List;
import java.util.Optional;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.AbstractMergedChannelStateHandle;
import org.apache.flink.runtime.state.StateObject;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageAccess;

/**
 * What differs between the Flink lines this project is built for. This copy is compiled against
 * Flink 2.x (the default build); {@code src/flink1/java} holds the Flink 1.20 copy, selected by the
 * {@code flink1.20} Maven profile. Both have the same signatures.
 */
public final class FlinkCompat {

    /** The Flink line this build was compiled for. */
    public static final String FLINK_LINE = "2.x";

    private FlinkCompat() {}

    /** Every collection of channel (unaligned checkpoint) state of a subtask. */
    public static List<Iterable<? extends StateObject>> channelStates(
            OperatorSubtaskState subtask) {
        return List.of(
                subtask.getInputChannelState(),
                subtask.getUpstreamOutputBufferState(),
                subtask.getResultSubpartitionState());
    }

    /** The file-backed delegate of a merged channel state handle (Flink 2.x only), if it is one. */
    public static Optional<StreamStateHandle> mergedChannelDelegate(StateObject handle) {
        if (handle instanceof AbstractMergedChannelStateHandle) {
            return Optional.of(((AbstractMergedChannelStateHandle<?, ?>) handle).getDelegate());
        }
        return Optional.empty();
    }

    /** {@code <root>/<job-id>}: where this job's checkpoints live. */
    public static Path checkpointsDirectory(FsCheckpointStorageAccess access) {
        return access.getCheckpointsDirectory();
    }

    /** The file a stream handle points to, if any. */
    public static Optional<Path> pathOf(StreamStateHandle handle) {
        return handle.maybeGetPath();
    }
}
