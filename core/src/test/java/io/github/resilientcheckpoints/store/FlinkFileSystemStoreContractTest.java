package io.github.resilientcheckpoints.store;

import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.io.TempDir;

/** The contract on the generic store over the local file system. */
class FlinkFileSystemStoreContractTest extends CheckpointStoreContractTest {

    @TempDir java.nio.file.Path dir;

    private final FlinkFileSystemStore store = new FlinkFileSystemStore();

    @Override
    protected CheckpointStore store() {
        return store;
    }

    @Override
    protected Path root() {
        return new Path(dir.toUri());
    }
}
