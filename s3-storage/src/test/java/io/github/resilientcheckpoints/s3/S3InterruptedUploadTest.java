package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * An upload attempt the uploader abandons is interrupted; the multipart upload it started must
 * still be aborted, although the SDK refuses requests on an interrupted thread.
 */
class S3InterruptedUploadTest {

    static final String BUCKET = "interrupted";

    private S3Server server;
    private FaultProxy proxy;
    private S3Store store;
    private S3Client sdk;
    private final ExecutorService executor = Executors.newCachedThreadPool();

    @BeforeEach
    void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        proxy = new FaultProxy(server.endpoint());
        Configuration conf = FlinkS3.config(proxy.endpoint());
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        store = (S3Store) new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
        sdk = server.client();
    }

    @AfterEach
    void stop() throws Exception {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        sdk.close();
        store.close();
        proxy.close();
        server.close();
    }

    @Test
    void interruptedMultipartUploadIsAborted() throws Exception {
        proxy.faultOnlyIf = null;
        proxy.bytesPerSecond = 2 << 20; // parts take seconds: the interrupt lands mid-upload
        Future<Path> upload =
                executor.submit(
                        () ->
                                store.upload(
                                        new SyntheticSource(12L << 20),
                                        new Path(
                                                "s3://"
                                                        + BUCKET
                                                        + "/job/chk-1/"
                                                        + UUID.randomUUID())));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (sdk.listMultipartUploads(b -> b.bucket(BUCKET)).uploads().isEmpty()
                && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertThat(sdk.listMultipartUploads(b -> b.bucket(BUCKET)).uploads())
                .as("upload started")
                .isNotEmpty();

        upload.cancel(true); // what the retrying uploader does to an attempt it abandons

        assertThatThrownBy(() -> upload.get()).isInstanceOf(CancellationException.class);
        end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!sdk.listMultipartUploads(b -> b.bucket(BUCKET)).uploads().isEmpty()
                && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertThat(sdk.listMultipartUploads(b -> b.bucket(BUCKET)).uploads())
                .as("pending multipart uploads")
                .isEmpty();
    }
}
