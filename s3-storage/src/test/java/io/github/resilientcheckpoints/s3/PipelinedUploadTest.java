package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.storage.ResilientStateOutputStream;
import io.github.resilientcheckpoints.storage.WorkerServices;
import io.github.resilientcheckpoints.testing.Workers;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.InputStream;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;

/** The state stream sends full parts to S3 while it is still being written. */
class PipelinedUploadTest {

    static final String BUCKET = "pipelined";
    static final long MB = 1 << 20;

    @TempDir java.nio.file.Path spill;

    private S3Server server;
    private FaultProxy proxy;
    private S3Store store;
    private S3Client direct;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final StorageMetrics metrics = new StorageMetrics();
    private WorkerServices services;

    @BeforeEach
    void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        proxy = new FaultProxy(server.endpoint());
        Configuration conf = FlinkS3.config(proxy.endpoint());
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        conf.setString(S3StoreOptions.PART_ATTEMPTS.key(), "2");
        store = (S3Store) new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
        direct = server.client();
        services =
                Workers.services(
                        store,
                        new RetryPolicy(
                                5,
                                Duration.ofMillis(10),
                                Duration.ofMillis(100),
                                Duration.ofMinutes(1)),
                        executor,
                        new SpillSpace(
                                List.of(spill),
                                Workers.generousLimits(),
                                FreeSpaceProbe.FILE_STORE,
                                Ticker.SYSTEM),
                        metrics,
                        Redactor.NONE);
    }

    @AfterEach
    void stop() throws Exception {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        direct.close();
        store.close();
        proxy.close();
        server.close();
    }

    private ResilientStateOutputStream stream() {
        return new ResilientStateOutputStream(
                new Path("s3://" + BUCKET + "/job/chk-1"),
                true,
                20 * 1024,
                64 * 1024,
                services,
                System.nanoTime() + TimeUnit.MINUTES.toNanos(2));
    }

    private static void write(ResilientStateOutputStream out, long from, long to) throws Exception {
        byte[] chunk = new byte[64 * 1024];
        for (long pos = from; pos < to; pos += chunk.length) {
            int n = (int) Math.min(chunk.length, to - pos);
            for (int i = 0; i < n; i++) {
                chunk[i] = (byte) SyntheticSource.byteAt(pos + i);
            }
            out.write(chunk, 0, n);
        }
    }

    private void assertStored(StreamStateHandle handle, long size) throws Exception {
        Path path = ((FileStateHandle) handle).getFilePath();
        try (InputStream in = direct.getObject(b -> b.bucket(BUCKET).key(S3Store.key(path)))) {
            assertThat(new SyntheticSource(size).matches(in)).isTrue();
        }
        assertThat(store.listPendingUploads(new Path("s3://" + BUCKET + "/"))).isEmpty();
    }

    @Test
    void partsGoUpWhileTheStreamIsStillBeingWritten() throws Exception {
        long size = 17 * MB + 123;
        ResilientStateOutputStream out = stream();
        write(out, 0, 16 * MB);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (store.dataRequests() < 3 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertThat(store.dataRequests())
                .as("three full parts sent before the stream was closed")
                .isEqualTo(3);
        write(out, 16 * MB, size);
        StreamStateHandle handle = out.closeAndGetHandle();

        assertStored(handle, size);
        assertThat(store.dataRequests())
                .as("3 early parts + the last; nothing sent twice")
                .isEqualTo(4);
        assertThat(metrics.pipelinedUploads()).isEqualTo(1);
        assertThat(metrics.pipelineFallbacks()).isZero();
        assertThat(metrics.uploadsSucceeded()).isEqualTo(1);
        assertThat(metrics.attempts()).as("the ordinary, retried upload was not needed").isZero();
    }

    @Test
    void aFailedPartUploadFallsBackToTheWholeFileWithRetries() throws Exception {
        long size = 12 * MB;
        proxy.faultOnlyIf = "partNumber=";
        proxy.resetRatio = 1.0; // every early part fails, twice
        ResilientStateOutputStream out = stream();
        write(out, 0, size);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (proxy.resets.get() < 4 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        proxy.resetRatio = 0;
        StreamStateHandle handle = out.closeAndGetHandle();

        assertStored(handle, size);
        assertThat(metrics.pipelineFallbacks()).isEqualTo(1);
        assertThat(metrics.uploadsSucceeded()).isEqualTo(1);
    }

    @Test
    void closingTheStreamAbortsTheParts() throws Exception {
        ResilientStateOutputStream out = stream();
        write(out, 0, 11 * MB);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (store.dataRequests() < 2 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        executor.submit(out::close).get(10, TimeUnit.SECONDS);
        end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!store.listPendingUploads(new Path("s3://" + BUCKET + "/")).isEmpty()
                && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertThat(store.listPendingUploads(new Path("s3://" + BUCKET + "/"))).isEmpty();
        assertThat(direct.listObjectsV2(b -> b.bucket(BUCKET)).keyCount()).isZero();
    }
}
