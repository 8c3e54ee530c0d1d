package io.github.resilientcheckpoints.compat;

import java.lang.reflect.Method;
import java.util.List;
import java.util.Optional;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateObject;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageAccess;

/**
 * What differs between the Flink lines this project is built for: the Flink 1.20 copy, selected by
 * the {@code flink1.20} Maven profile (the default build uses {@code src/flink2/java}). Both have
 * the same signatures.
 */
public final class FlinkCompat {

    /** The Flink line this build was compiled for. */
    public static final String FLINK_LINE = "1.20";

    private FlinkCompat() {}

    /** Every collection of channel (unaligned checkpoint) state of a subtask. */
    public static List<Iterable<? extends StateObject>> channelStates(
            OperatorSubtaskState subtask) {
        return List.of(subtask.getInputChannelState(), subtask.getResultSubpartitionState());
    }

    /** Flink 1.20 has no merged channel state handles. */
    public static Optional<StreamStateHandle> mergedChannelDelegate(StateObject handle) {
        return Optional.empty();
    }

    /** {@code <root>/<job-id>}: where this job's checkpoints live (not public in Flink 1.20). */
    public static Path checkpointsDirectory(FsCheckpointStorageAccess access) {
        try {
            Method getter =
                    FsCheckpointStorageAccess.class.getDeclaredMethod("getCheckpointsDirectory");
            getter.setAccessible(true);
            return (Path) getter.invoke(access);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(
                    "This build is for Flink 1.20 and cannot read the checkpoint directory of "
                            + access.getClass().getName()
                            + "; use the jar built for your Flink line",
                    e);
        }
    }

    /** The file a stream handle points to, if any (1.20 handles say so only by their type). */
    public static Optional<Path> pathOf(StreamStateHandle handle) {
        if (handle instanceof FileStateHandle) {
            return Optional.of(((FileStateHandle) handle).getFilePath());
        }
        if (handle instanceof SegmentFileStateHandle) {
            return Optional.of(((SegmentFileStateHandle) handle).getFilePath());
        }
        return Optional.empty();
    }
}
