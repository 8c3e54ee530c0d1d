package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStoreContractTest;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.time.Duration;
import java.util.UUID;
import org.apache.flink.core.fs.Path;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/** The store contract on a real HDFS. */
class HdfsStoreContractTest extends CheckpointStoreContractTest {

    @TempDir static java.nio.file.Path base;

    private static MiniDfs dfs;
    private static HdfsStore store;

    @BeforeAll
    static void startHdfs() throws IOException {
        dfs = new MiniDfs(base, 1);
        store =
                new HdfsStore(
                        FileSystem.newInstance(dfs.uri(), dfs.conf()),
                        1,
                        null,
                        Duration.ofSeconds(10),
                        Ticker.SYSTEM);
    }

    @AfterAll
    static void stopHdfs() throws IOException {
        if (store != null) {
            store.close();
        }
        if (dfs != null) {
            dfs.close();
        }
    }

    @Override
    protected CheckpointStore store() {
        return store;
    }

    @Override
    protected Path root() {
        return new Path(dfs.uri().toString() + "/contract-" + UUID.randomUUID());
    }
}
