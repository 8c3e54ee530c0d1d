package io.github.resilientcheckpoints.flink;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorage;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageAccess;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import javax.annotation.Nullable;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;

/**
 * Our storage as Flink gets it: {@link ResilientCheckpointStorageFactory} from a configuration, on
 * a {@link StorageRuntime} of the test's own (closed with this object), spilling to a directory of
 * the test's own. What Flink's storage tests build by hand (a stream with a buffer size and a
 * threshold, a factory for two directories) is built here through the storage's configuration.
 */
final class TestStorages implements AutoCloseable {

    private final StorageRuntime runtime;
    private final java.nio.file.Path spillDir;

    TestStorages(String name, java.nio.file.Path spillDir) {
        this.runtime = new StorageRuntime(name, Ticker.SYSTEM);
        this.spillDir = spillDir;
    }

    java.nio.file.Path spillDir() {
        return spillDir;
    }

    /** The storage's configuration for {@code checkpointDir}; short retries keep failures fast. */
    Configuration config(Path checkpointDir) {
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpointDir.toString());
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spillDir.toString()));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 3);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(5));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(20));
        return conf;
    }

    /** Flink's two stream parameters, set the way a user sets them for Flink's own storage. */
    static Configuration withStreamSizes(Configuration conf, int bufferSize, int threshold) {
        conf.set(CheckpointingOptions.FS_WRITE_BUFFER_SIZE, bufferSize);
        conf.set(CheckpointingOptions.FS_SMALL_FILE_THRESHOLD, new MemorySize(threshold));
        return conf;
    }

    ResilientCheckpointStorage storage(Configuration conf) {
        return new ResilientCheckpointStorageFactory()
                .createFromConfig(conf, TestStorages.class.getClassLoader())
                .withRuntime(runtime);
    }

    ResilientCheckpointStorageAccess access(Configuration conf, JobID job) throws IOException {
        return (ResilientCheckpointStorageAccess) storage(conf).createCheckpointStorage(job);
    }

    /**
     * The task side of checkpoint {@code checkpointId} at the default location: our stream factory,
     * and the directories Flink resolved for it.
     */
    Location checkpoint(Configuration conf, long checkpointId) throws IOException {
        return resolve(
                access(conf, new JobID()),
                checkpointId,
                CheckpointStorageLocationReference.getDefault());
    }

    static Location resolve(
            ResilientCheckpointStorageAccess access,
            long checkpointId,
            CheckpointStorageLocationReference reference)
            throws IOException {
        FsCheckpointStorageLocation flink =
                (FsCheckpointStorageLocation)
                        access.delegate().resolveCheckpointStorageLocation(checkpointId, reference);
        return new Location(
                access.resolveCheckpointStorageLocation(checkpointId, reference),
                flink.getCheckpointDirectory(),
                flink.getSharedStateDirectory());
    }

    record Location(CheckpointStreamFactory factory, Path exclusiveDir, @Nullable Path sharedDir) {
        java.nio.file.Path exclusiveLocalDir() {
            return java.nio.file.Paths.get(exclusiveDir.toUri().getPath());
        }

        java.nio.file.Path sharedLocalDir() {
            return java.nio.file.Paths.get(sharedDir.toUri().getPath());
        }
    }

    @Override
    public void close() {
        runtime.close();
    }
}
