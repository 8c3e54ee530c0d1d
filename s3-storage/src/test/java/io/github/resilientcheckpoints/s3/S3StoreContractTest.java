package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStoreContractTest;
import java.io.IOException;
import java.net.URI;
import java.util.UUID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The store contract on a real S3 API server; reads go through flink-s3-fs-native. */
class S3StoreContractTest extends CheckpointStoreContractTest {

    static final String BUCKET = "contract";

    private static S3Server server;
    private static CheckpointStore store;

    @BeforeAll
    static void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        Configuration conf = FlinkS3.config(server.endpoint());
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        FlinkS3.initialize(conf);
        store = new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
    }

    @AfterAll
    static void stop() throws Exception {
        if (store != null) {
            store.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Override
    protected CheckpointStore store() {
        return store;
    }

    /**
     * S3Proxy keeps its own temporary blob ({@code <key>-<uuid>}) of a PutObject whose body broke
     * off; real S3 stores nothing for such a request. What we own is the target key: it must be
     * gone.
     */
    @Override
    protected void assertNothingLeftBehind(Path target) throws IOException {
        FileSystem fs = FileSystem.get(target.toUri());
        Assertions.assertThat(fs.exists(target)).isFalse();
    }

    @Override
    protected Path root() {
        return new Path("s3://" + BUCKET + "/t-" + UUID.randomUUID());
    }
}
