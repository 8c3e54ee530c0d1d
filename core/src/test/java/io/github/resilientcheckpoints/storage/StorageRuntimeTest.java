package io.github.resilientcheckpoints.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.metrics.StorageMetricsMBeanRegistrar;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.testing.FakeTicker;
import io.github.resilientcheckpoints.testing.RecordingStoreProvider;
import io.github.resilientcheckpoints.testing.RecordingStoreProvider.RecordingStore;
import io.github.resilientcheckpoints.time.Ticker;
import java.lang.management.ManagementFactory;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StorageRuntimeTest {

    @TempDir Path tmp;

    private final FakeTicker ticker = new FakeTicker();
    private final StorageRuntime runtime = new StorageRuntime("test", ticker);

    @AfterEach
    void close() {
        runtime.close();
    }

    private Configuration config() {
        Configuration conf = new Configuration();
        conf.set(CoreOptions.TMP_DIRS, tmp.toString());
        conf.set(
                CheckpointingOptions.CHECKPOINTS_DIRECTORY,
                RecordingStoreProvider.SCHEME + "://bucket/checkpoints");
        conf.setString("s3.access-key", "tenant-a");
        conf.setString("s3.secret-key", "secret-of-tenant-a");
        return conf;
    }

    private ResilientCheckpointStorage storage(Configuration conf) {
        return ResilientCheckpointStorage.fromConfig(conf, getClass().getClassLoader())
                .withRuntime(runtime);
    }

    @Test
    void storesAreKeyedByEveryStoreSetting() throws Exception {
        Configuration tenantB = config();
        tenantB.setString("s3.secret-key", "secret-of-tenant-b");

        CheckpointStore a = storage(config()).store();
        CheckpointStore b = storage(tenantB).store();
        CheckpointStore aAgain = storage(config()).store();

        assertThat(b).as("same root, other credentials: another client").isNotSameAs(a);
        assertThat(((RecordingStore) b).config)
                .containsEntry("s3.secret-key", "secret-of-tenant-b");
        assertThat(aAgain).as("equal settings share one store").isSameAs(a);
    }

    @Test
    void settingsThatDoNotConcernTheStoreShareIt() throws Exception {
        Configuration otherJob = config();
        otherJob.setString("pipeline.name", "another job");
        otherJob.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofSeconds(7));

        assertThat(storage(otherJob).store()).isSameAs(storage(config()).store());
    }

    @Test
    void storeKeysHoldNoSecret() throws Exception {
        storage(config()).store();
        assertThat(runtime.storeKeys())
                .singleElement()
                .asString()
                .contains(RecordingStoreProvider.SCHEME + "://bucket/checkpoints")
                .doesNotContain("secret-of-tenant-a")
                .doesNotContain("tenant-a");
    }

    @Test
    void idleStoresAreClosedAndRecreatedOnNextUse() throws Exception {
        RecordingStore first = (RecordingStore) storage(config()).store();
        ticker.advanceMillis(StorageRuntime.DEFAULT_STORE_IDLE_TIMEOUT.toMillis() - 1);
        assertThat(storage(config()).store())
                .as("used again: the idle time starts over")
                .isSameAs(first);

        ticker.advanceMillis(StorageRuntime.DEFAULT_STORE_IDLE_TIMEOUT.toMillis() - 1);
        assertThat(runtime.closeIdleStores()).isZero();
        assertThat(first.closed).isFalse();

        ticker.advanceMillis(2);
        assertThat(runtime.closeIdleStores()).isEqualTo(1);
        assertThat(first.closed).isTrue();
        CheckpointStore second = storage(config()).store();
        assertThat(second).isNotSameAs(first);
        assertThat(((RecordingStore) second).closed).isFalse();
    }

    @Test
    void storesOutliveTwiceTheCheckpointTimeout() throws Exception {
        Configuration conf = config();
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofHours(2));
        RecordingStore store = (RecordingStore) storage(conf).store();
        ticker.advanceMillis(Duration.ofHours(3).toMillis());
        assertThat(runtime.closeIdleStores()).isZero();
        ticker.advanceMillis(Duration.ofHours(1).toMillis());
        assertThat(runtime.closeIdleStores()).isEqualTo(1);
        assertThat(store.closed).isTrue();
    }

    @Test
    void uploadAndJanitorThreadsUseTheRuntimesClassLoaderNotTheSubmittersOne() throws Exception {
        ClassLoader jobLoader = new URLClassLoader(new URL[0], getClass().getClassLoader());
        Thread submitter = Thread.currentThread();
        ClassLoader before = submitter.getContextClassLoader();
        submitter.setContextClassLoader(jobLoader);
        try {
            assertThat(contextLoaderOf(runtime.uploadExecutor(2)))
                    .isSameAs(StorageRuntime.class.getClassLoader());
            assertThat(contextLoaderOf(runtime.sweepExecutor()))
                    .isSameAs(StorageRuntime.class.getClassLoader());
        } finally {
            submitter.setContextClassLoader(before);
        }
    }

    private static ClassLoader contextLoaderOf(ExecutorService executor) throws Exception {
        return executor.submit(() -> Thread.currentThread().getContextClassLoader())
                .get(10, TimeUnit.SECONDS);
    }

    @Test
    void closeStopsThreadsClosesStoresAndUnregistersTheBean() throws Exception {
        StorageRuntime own = new StorageRuntime("close-test", Ticker.SYSTEM, true);
        ExecutorService uploads = own.uploadExecutor(2);
        ExecutorService sweeps = own.sweepExecutor();
        uploads.submit(() -> {}).get(10, TimeUnit.SECONDS);
        sweeps.submit(() -> {}).get(10, TimeUnit.SECONDS);
        RecordingStore store =
                (RecordingStore)
                        ResilientCheckpointStorage.fromConfig(config(), getClass().getClassLoader())
                                .withRuntime(own)
                                .store();
        assertThat(
                        ManagementFactory.getPlatformMBeanServer()
                                .isRegistered(
                                        StorageMetricsMBeanRegistrar.objectName("close-test")))
                .isTrue();

        own.close();

        assertThat(uploads.isTerminated()).isTrue();
        assertThat(sweeps.isTerminated()).isTrue();
        assertThat(store.closed).isTrue();
        assertThat(
                        ManagementFactory.getPlatformMBeanServer()
                                .isRegistered(
                                        StorageMetricsMBeanRegistrar.objectName("close-test")))
                .isFalse();
        own.close(); // idempotent
        assertThatThrownBy(() -> own.uploadExecutor(2)).isInstanceOf(IllegalStateException.class);
    }
}
