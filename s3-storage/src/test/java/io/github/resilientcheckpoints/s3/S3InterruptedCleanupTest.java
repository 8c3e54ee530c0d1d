package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.testing.ByteSource;
import java.io.InterruptedIOException;
import java.net.URI;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Cleanup (aborting a multipart upload, deleting an abandoned object) happens on cancelled, hence
 * interrupted, threads; the AWS SDK refuses every request on such a thread. The store must clean up
 * anyway and leave the interrupt flag as it found it.
 */
class S3InterruptedCleanupTest {

    /**
     * These tests interrupt the JUnit thread on purpose: a flag left behind by a failed assertion
     * would make the next test class's store calls look cancelled (no resend).
     */
    @org.junit.jupiter.api.AfterEach
    void leaveNoInterruptBehind() {
        Thread.interrupted();
    }

    static final String BUCKET = "interrupted";
    static final int MB = 1 << 20;

    private static S3Server server;
    private static S3Store store;
    private static S3Client sdk;

    @BeforeAll
    static void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        Configuration conf = FlinkS3.config(server.endpoint());
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        store = (S3Store) new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
        sdk = server.client();
    }

    @AfterAll
    static void stop() throws Exception {
        if (sdk != null) {
            sdk.close();
        }
        if (store != null) {
            store.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @AfterEach
    void clearInterrupt() {
        Thread.interrupted();
    }

    private static String newDirectory() {
        return "dir-" + UUID.randomUUID();
    }

    private static int pendingUploads(String directory) {
        return sdk.listMultipartUploads(b -> b.bucket(BUCKET).prefix(directory + "/"))
                .uploads()
                .size();
    }

    @Test
    void aMultipartUploadWhoseThreadIsInterruptedMidUploadLeavesNoPendingUpload() throws Exception {
        String dir = newDirectory();
        // 12 MiB: three parts; the second blocks 1 MiB in, so the upload thread waits for its
        // parts.
        BlockingSource source = new BlockingSource(12L * MB, 6L * MB);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread uploader =
                new Thread(
                        () -> {
                            try {
                                store.upload(
                                        source, new Path("s3://" + BUCKET + "/" + dir + "/state"));
                            } catch (Throwable t) {
                                failure.set(t);
                            }
                        },
                        "interrupted-uploader");
        uploader.start();
        try {
            assertThat(source.reached.await(60, TimeUnit.SECONDS))
                    .as("a part is in flight")
                    .isTrue();
            assertThat(pendingUploads(dir)).as("the multipart upload exists").isEqualTo(1);
            uploader.interrupt();
            uploader.join(TimeUnit.SECONDS.toMillis(60));
            assertThat(uploader.isAlive()).isFalse();
        } finally {
            source.release.countDown();
        }
        assertThat(failure.get()).isInstanceOf(InterruptedIOException.class);
        assertThat(pendingUploads(dir)).as("the interrupted upload was aborted").isZero();
    }

    @Test
    void aPartUploadAbortedFromAnInterruptedThreadLeavesNoPendingUpload() throws Exception {
        String dir = newDirectory();
        SupportsPartUploads.PartUpload upload =
                store.startPartUpload(new Path("s3://" + BUCKET + "/" + dir + "/state"));
        // The upload is created in the background: wait until it exists.
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (pendingUploads(dir) == 0 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertThat(pendingUploads(dir)).isEqualTo(1);

        Thread.currentThread().interrupt(); // as a task thread being cancelled
        upload.abort();
        assertThat(Thread.interrupted()).as("the interrupt flag is kept").isTrue();

        assertThat(pendingUploads(dir)).as("aborted despite the interrupt").isZero();
    }

    @Test
    void aDeleteFromAnInterruptedThreadDeletesAndKeepsTheInterrupt() throws Exception {
        String key = newDirectory() + "/abandoned";
        sdk.putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromBytes(new byte[] {1, 2, 3}));

        Thread.currentThread()
                .interrupt(); // as an abandoned attempt's thread, cleaning up after itself
        store.delete(new Path("s3://" + BUCKET + "/" + key));
        assertThat(Thread.interrupted()).as("the interrupt flag is kept").isTrue();

        assertThat(sdk.listObjectsV2(b -> b.bucket(BUCKET).prefix(key)).keyCount()).isZero();
    }

    @Test
    void cleanupStillWorksOnAnUninterruptedThread() throws Exception {
        String dir = newDirectory();
        SupportsPartUploads.PartUpload upload =
                store.startPartUpload(new Path("s3://" + BUCKET + "/" + dir + "/state"));
        // The upload is created in the background: wait until it exists.
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (pendingUploads(dir) == 0 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        upload.submitPart(1, new ByteSource(new byte[5 * MB]));
        upload.abort();
        assertThat(Thread.currentThread().isInterrupted()).isFalse();
        assertThat(pendingUploads(dir)).isZero();
    }
}
