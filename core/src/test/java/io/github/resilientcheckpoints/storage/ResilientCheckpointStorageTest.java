package io.github.resilientcheckpoints.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.testing.FakeTicker;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStorage;
import org.apache.flink.runtime.state.CheckpointStorageAccess;
import org.apache.flink.runtime.state.CheckpointStorageLoader;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResilientCheckpointStorageTest {

    @TempDir Path tmp;

    private Configuration config() {
        Configuration conf = new Configuration();
        conf.set(CoreOptions.TMP_DIRS, tmp.resolve("spill").toString());
        conf.set(
                CheckpointingOptions.CHECKPOINTS_DIRECTORY,
                tmp.resolve("checkpoints").toUri().toString());
        return conf;
    }

    @Test
    void aStorageSetInCodeTakesTheSavepointDirectoryFromTheCluster() throws Exception {
        ResilientCheckpointStorage inCode =
                new ResilientCheckpointStorageFactory()
                        .createFromConfig(config(), getClass().getClassLoader());
        assertThat(inCode.delegate().getSavepointPath()).isNull();
        Configuration cluster = new Configuration();
        cluster.set(CheckpointingOptions.SAVEPOINT_DIRECTORY, "file:///cluster/savepoints");

        CheckpointStorage loaded =
                CheckpointStorageLoader.load(
                        inCode,
                        new HashMapStateBackend(),
                        new Configuration(),
                        cluster,
                        getClass().getClassLoader(),
                        null);

        assertThat(loaded).isInstanceOf(ResilientCheckpointStorage.class);
        ResilientCheckpointStorage configured = (ResilientCheckpointStorage) loaded;
        assertThat(configured.delegate().getSavepointPath())
                .isEqualTo(new org.apache.flink.core.fs.Path("file:///cluster/savepoints"));
        assertThat(configured.delegate().getCheckpointPath())
                .isEqualTo(inCode.delegate().getCheckpointPath());
        assertThat(configured.settings().toString()).isEqualTo(inCode.settings().toString());
    }

    @Test
    void storageSurvivesJavaSerialization() throws Exception {
        Configuration conf = config();
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 7);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(20));
        ResilientCheckpointStorage storage =
                new ResilientCheckpointStorageFactory()
                        .createFromConfig(conf, getClass().getClassLoader());

        byte[] bytes = InstantiationUtil.serializeObject(storage);
        ResilientCheckpointStorage copy =
                InstantiationUtil.deserializeObject(bytes, getClass().getClassLoader());

        assertThat(copy.toString()).isEqualTo(storage.toString());
        assertThat(copy.settings().retryPolicy.maxAttempts()).isEqualTo(7);
        assertThat(copy.delegate().getCheckpointPath())
                .isEqualTo(storage.delegate().getCheckpointPath());
    }

    @Test
    void everyNewStreamKeepsItsStoreFromBeingClosedAsIdle() throws Exception {
        FakeTicker ticker = new FakeTicker();
        try (StorageRuntime runtime = new StorageRuntime("idle-test", ticker)) {
            ResilientCheckpointStorage storage =
                    new ResilientCheckpointStorageFactory()
                            .createFromConfig(config(), getClass().getClassLoader())
                            .withRuntime(runtime);
            CheckpointStorageAccess access = storage.createCheckpointStorage(new JobID());
            long almostIdle = StorageRuntime.DEFAULT_STORE_IDLE_TIMEOUT.toMillis() - 1000;
            for (int i = 0; i < 3; i++) {
                access.createTaskOwnedStateStream().close();
                ticker.advanceMillis(almostIdle);
                assertThat(runtime.closeIdleStores())
                        .as("a task still writes through its store")
                        .isZero();
            }
            ticker.advanceMillis(almostIdle);
            assertThat(runtime.closeIdleStores()).isEqualTo(1);
        }
    }

    @Test
    void aStoreWithAnOpenStreamIsNeverClosedAsIdle() throws Exception {
        FakeTicker ticker = new FakeTicker();
        try (StorageRuntime runtime = new StorageRuntime("open-stream-test", ticker)) {
            ResilientCheckpointStorage storage =
                    new ResilientCheckpointStorageFactory()
                            .createFromConfig(config(), getClass().getClassLoader())
                            .withRuntime(runtime);
            CheckpointStorageAccess access = storage.createCheckpointStorage(new JobID());
            // A write-ahead sink's task-owned stream stays open for a checkpoint interval.
            CheckpointStateOutputStream open = access.createTaskOwnedStateStream();
            open.write(new byte[] {1, 2, 3});
            long idle = StorageRuntime.DEFAULT_STORE_IDLE_TIMEOUT.toMillis();
            ticker.advanceMillis(5 * idle);
            assertThat(runtime.closeIdleStores()).as("a stream still writes through it").isZero();

            assertThat(open.closeAndGetHandle()).isNotNull();
            ticker.advanceMillis(idle);
            assertThat(runtime.closeIdleStores()).isEqualTo(1);
        }
    }

    @Test
    void theLongestCheckpointTimeoutOfTheJobsSharingAStoreSetsItsIdleTime() throws Exception {
        FakeTicker ticker = new FakeTicker();
        try (StorageRuntime runtime = new StorageRuntime("shared-idle-test", ticker)) {
            Configuration shortTimeout = config();
            shortTimeout.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(10));
            Configuration longTimeout = config();
            longTimeout.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofHours(3));
            new ResilientCheckpointStorageFactory()
                    .createFromConfig(shortTimeout, getClass().getClassLoader())
                    .withRuntime(runtime)
                    .store();
            new ResilientCheckpointStorageFactory()
                    .createFromConfig(longTimeout, getClass().getClassLoader())
                    .withRuntime(runtime)
                    .store();
            assertThat(runtime.storeKeys()).as("one store for both jobs").hasSize(1);

            ticker.advanceMillis(Duration.ofHours(2).toMillis());
            assertThat(runtime.closeIdleStores())
                    .as("idle for 2 h: less than 2 x the 3 h job's timeout")
                    .isZero();
            ticker.advanceMillis(Duration.ofHours(4).toMillis() + 1);
            assertThat(runtime.closeIdleStores()).isEqualTo(1);
        }
    }

    @Test
    void spillDirectoryThatCannotBeCreatedFailsOnFirstUseNamingKeyAndPath() throws Exception {
        Path file = Files.writeString(tmp.resolve("plain-file"), "x");
        Configuration conf = config();
        conf.set(
                ResilientCheckpointOptions.SPILL_DIRECTORIES,
                List.of(file.resolve("spill").toString()));
        try (StorageRuntime runtime = new StorageRuntime("spill-test", Ticker.SYSTEM)) {
            ResilientCheckpointStorage storage =
                    new ResilientCheckpointStorageFactory()
                            .createFromConfig(conf, getClass().getClassLoader())
                            .withRuntime(runtime);

            CheckpointStorageAccess access = storage.createCheckpointStorage(new JobID());
            assertThatThrownBy(access::createTaskOwnedStateStream)
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("'execution.checkpointing.resilient.spill.directories'")
                    .hasMessageContaining(file.resolve("spill").toString())
                    .hasMessageContaining("cannot be created");
        }
    }
}
