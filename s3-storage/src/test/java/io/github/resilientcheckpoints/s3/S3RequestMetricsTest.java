package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.metrics.StorageMetricsMBeanRegistrar;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorage;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageAccess;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The S3 adapter's own requests (parts sent and resent, SlowDowns absorbed, deletes) reach the
 * runtime's {@link StorageMetrics} and so its JMX bean, on a real S3 API server behind a fault
 * proxy.
 */
class S3RequestMetricsTest {

    static final String BUCKET = "metered";
    static final long MB = 1 << 20;
    static final long PART = 5 * MB;

    @TempDir java.nio.file.Path spill;

    private ProxiedS3 s3;
    private S3Client direct;

    @BeforeEach
    void start() throws Exception {
        s3 = new ProxiedS3(BUCKET);
        direct = s3.server.client();
    }

    @AfterEach
    void stop() throws Exception {
        s3.proxy.slowDownRatio = 0;
        s3.proxy.resetRatio = 0;
        direct.close();
        s3.close();
    }

    private Configuration config() {
        Configuration conf = FlinkS3.config(s3.proxy.endpoint());
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, "s3://" + BUCKET + "/checkpoints");
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        conf.setString(S3StoreOptions.PART_ATTEMPTS.key(), "20");
        return conf;
    }

    @Test
    void partsResentAfterInjectedFaultsAreCountedInTheJmxBean() throws Exception {
        Configuration conf = config();
        FlinkS3.initialize(conf);
        String runtimeName = "s3-request-metrics-" + UUID.randomUUID();
        MBeanServer jmx = ManagementFactory.getPlatformMBeanServer();
        ObjectName bean = StorageMetricsMBeanRegistrar.objectName(runtimeName);
        s3.proxy.faultOnlyIf = "partNumber=";
        s3.proxy.slowDownRatio = 0.3;
        s3.proxy.resetRatio = 0.1;
        long parts = 0;
        try (StorageRuntime runtime = new StorageRuntime(runtimeName, Ticker.SYSTEM, true)) {
            ResilientCheckpointStorage storage =
                    new ResilientCheckpointStorageFactory()
                            .createFromConfig(conf, getClass().getClassLoader())
                            .withRuntime(runtime);
            CheckpointStorageAccess access = storage.createCheckpointStorage(new JobID());
            List<Path> written = new ArrayList<>();
            // Random faults: upload until some hit (each upload alone may be spared).
            for (int i = 0;
                    i < 3 || (i < 20 && s3.proxy.slowDowns.get() + s3.proxy.resets.get() == 0);
                    i++) {
                long size = 3 * PART + 1000 + i;
                written.add(write(access, size));
                parts += (size + PART - 1) / PART;
            }
            long slowDowns = s3.proxy.slowDowns.get();
            long resets = s3.proxy.resets.get();
            assertThat(slowDowns + resets).as("faults were injected on parts").isPositive();

            long dataRequests = attribute(jmx, bean, "storeDataRequests");
            long dataRetries = attribute(jmx, bean, "storeDataRequestRetries");
            assertThat(dataRequests)
                    .as("every part is sent at least once")
                    .isGreaterThanOrEqualTo(parts);
            // Every injected fault made the store resend that part (the uploads all succeeded); a
            // loaded machine may add resends of its own, never fewer.
            assertThat(dataRetries)
                    .as("a part is resent for every fault")
                    .isGreaterThanOrEqualTo(slowDowns + resets);
            assertThat(dataRequests).isGreaterThanOrEqualTo(parts + dataRetries);
            assertThat(attribute(jmx, bean, "storeThrottledResponses"))
                    .as("every SlowDown the proxy answered was seen")
                    .isGreaterThanOrEqualTo(slowDowns);
            assertThat(runtime.metrics().snapshot())
                    .containsEntry("storeDataRequests", dataRequests)
                    .containsKeys("storeDeleteRequests", "storeOtherRequestRetries");
            for (int i = 0; i < written.size(); i++) {
                String key = S3Store.key(written.get(i));
                try (InputStream in = direct.getObject(b -> b.bucket(BUCKET).key(key))) {
                    assertThat(new SyntheticSource(3 * PART + 1000 + i).matches(in))
                            .as("bytes of upload " + i)
                            .isTrue();
                }
            }
        }
        assertThat(jmx.isRegistered(bean)).as("unregistered when the runtime closed").isFalse();
    }

    @Test
    void batchedDeletesAreReportedToTheRegisteredListener() throws Exception {
        StorageMetrics metrics = new StorageMetrics();
        try (S3Store store =
                (S3Store)
                        new S3StoreProvider()
                                .create(URI.create("s3://" + BUCKET + "/"), config())) {
            store.onRequestEvents(metrics);
            List<Path> paths = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Path p = new Path("s3://" + BUCKET + "/del/" + UUID.randomUUID());
                paths.add(store.upload(new SyntheticSource(100), p));
            }
            assertThat(metrics.snapshot()).containsEntry("storeDataRequests", 3L);
            assertThat(store.deleteAll(paths)).isEmpty();
            assertThat(metrics.snapshot().get("storeDeleteRequests"))
                    .as("one batch, maybe resent")
                    .isGreaterThanOrEqualTo(1L)
                    .isEqualTo(store.deleteRequests());
        }
    }

    private static Path write(CheckpointStorageAccess access, long size) throws Exception {
        StreamStateHandle handle;
        try (CheckpointStateOutputStream out = access.createTaskOwnedStateStream()) {
            byte[] chunk = new byte[64 * 1024];
            for (long pos = 0; pos < size; pos += chunk.length) {
                int n = (int) Math.min(chunk.length, size - pos);
                for (int i = 0; i < n; i++) {
                    chunk[i] = (byte) SyntheticSource.byteAt(pos + i);
                }
                out.write(chunk, 0, n);
            }
            handle = out.closeAndGetHandle();
        }
        Path path = ((FileStateHandle) handle).getFilePath();
        assertThat(handle.getStateSize()).isEqualTo(size);
        return path;
    }

    private static long attribute(MBeanServer jmx, ObjectName bean, String name) throws Exception {
        return (Long) jmx.getAttribute(bean, name);
    }
}
