package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.compat.FlinkCompat;
import java.io.DataInputStream;
import java.io.IOException;
import java.util.HashSet;
import java.util.Set;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.AbstractChannelStateHandle;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.OperatorStreamStateHandle;
import org.apache.flink.runtime.state.StateObject;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

/**
 * Every file a checkpoint's {@code _metadata} references, read with Flink's own metadata loader:
 * keyed state (full and RocksDB incremental: shared, private and meta files), operator state,
 * channel state, and file-merging segment files (a segment file counts as referenced if any of its
 * segments is). A handle type it does not know stops the reading with an error: a sweep must never
 * treat files as orphans because it could not see their references.
 */
public final class MetadataReferences {

    private MetadataReferences() {}

    /**
     * @param checkpointDirectory the {@code chk-N} directory holding {@code _metadata}
     * @return normalized paths (see {@link Locations#key(Path)}) of every referenced file
     * @throws UnreadableMetadataException when the metadata cannot be read or holds an unknown
     *     handle
     */
    public static Set<String> read(Path checkpointDirectory, ClassLoader classLoader)
            throws UnreadableMetadataException {
        Path metadata = new Path(checkpointDirectory, CheckpointLayout.METADATA);
        CheckpointMetadata loaded;
        try (FSDataInputStream in = open(metadata)) {
            loaded =
                    Checkpoints.loadCheckpointMetadata(
                            new DataInputStream(in), classLoader, checkpointDirectory.toString());
        } catch (IOException | RuntimeException e) {
            throw new UnreadableMetadataException("Cannot read " + metadata + " (" + e + ")", e);
        }
        Set<String> files = new HashSet<>();
        for (OperatorState operator : loaded.getOperatorStates()) {
            add(files, operator.getCoordinatorState(), metadata);
            for (OperatorSubtaskState subtask : operator.getStates()) {
                addAll(files, subtask.getManagedOperatorState(), metadata);
                addAll(files, subtask.getRawOperatorState(), metadata);
                addAll(files, subtask.getManagedKeyedState(), metadata);
                addAll(files, subtask.getRawKeyedState(), metadata);
                for (Iterable<? extends StateObject> channels :
                        FlinkCompat.channelStates(subtask)) {
                    addAll(files, channels, metadata);
                }
            }
        }
        return files;
    }

    private static void addAll(
            Set<String> files, Iterable<? extends StateObject> handles, Path metadata)
            throws UnreadableMetadataException {
        for (StateObject handle : handles) {
            add(files, handle, metadata);
        }
    }

    private static void add(Set<String> files, StateObject handle, Path metadata)
            throws UnreadableMetadataException {
        if (handle == null || handle instanceof ByteStreamStateHandle) {
            return; // inline bytes, no file
        }
        if (handle instanceof FileStateHandle) {
            files.add(Locations.key(((FileStateHandle) handle).getFilePath()));
        } else if (handle instanceof SegmentFileStateHandle) {
            files.add(Locations.key(((SegmentFileStateHandle) handle).getFilePath()));
        } else if (handle instanceof KeyGroupsStateHandle) {
            add(files, ((KeyGroupsStateHandle) handle).getDelegateStateHandle(), metadata);
        } else if (handle instanceof IncrementalRemoteKeyedStateHandle) {
            IncrementalRemoteKeyedStateHandle h = (IncrementalRemoteKeyedStateHandle) handle;
            add(files, h.getMetaDataStateHandle(), metadata);
            for (IncrementalKeyedStateHandle.HandleAndLocalPath p : h.getSharedState()) {
                add(files, p.getHandle(), metadata);
            }
            for (IncrementalKeyedStateHandle.HandleAndLocalPath p : h.getPrivateState()) {
                add(files, p.getHandle(), metadata);
            }
        } else if (handle instanceof OperatorStreamStateHandle) {
            add(files, ((OperatorStreamStateHandle) handle).getDelegateStateHandle(), metadata);
        } else if (handle instanceof AbstractChannelStateHandle) {
            add(files, ((AbstractChannelStateHandle<?>) handle).getDelegate(), metadata);
        } else if (FlinkCompat.mergedChannelDelegate(handle).isPresent()) {
            add(files, FlinkCompat.mergedChannelDelegate(handle).get(), metadata);
        } else if (handle instanceof StreamStateHandle
                && !(handle instanceof KeyedStateHandle)
                && FlinkCompat.pathOf((StreamStateHandle) handle).isPresent()) {
            files.add(Locations.key(FlinkCompat.pathOf((StreamStateHandle) handle).get()));
        } else {
            throw new UnreadableMetadataException(
                    "Unknown state handle type "
                            + handle.getClass().getName()
                            + " in "
                            + metadata
                            + ": its files cannot be told apart from orphans, so this job is not"
                            + " swept.",
                    null);
        }
    }

    private static FSDataInputStream open(Path file) throws IOException {
        FileSystem fs = Locations.fileSystem(file);
        return fs.open(Locations.onFileSystem(file, fs));
    }
}
