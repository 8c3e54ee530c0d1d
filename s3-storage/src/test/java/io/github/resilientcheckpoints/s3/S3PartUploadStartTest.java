package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.s3.FaultProxy.Fault;
import io.github.resilientcheckpoints.s3.FaultProxy.Shape;
import io.github.resilientcheckpoints.store.SupportsPartUploads.PartUpload;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Issue 24 item 5: starting a part upload never makes the caller (a snapshot writer) wait on S3.
 * The bucket check and CreateMultipartUpload go out on a part thread; the parts wait for the upload
 * there, and a start that fails for good fails {@code complete()} with the store's message.
 */
class S3PartUploadStartTest {

    static final String BUCKET = "start";
    static final long MB = 1 << 20;

    private ProxiedS3 s3;
    private S3Store store;
    private S3Client direct;
    private final ExecutorService caller = Executors.newSingleThreadExecutor();

    @BeforeEach
    void start() throws Exception {
        s3 = new ProxiedS3(BUCKET);
        Configuration conf = FlinkS3.config(s3.proxy.endpoint());
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        conf.setString(S3StoreOptions.PART_ATTEMPTS.key(), "2");
        store = (S3Store) new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
        direct = s3.server.client();
    }

    @AfterEach
    void stop() throws Exception {
        s3.proxy.releaseHeld();
        caller.shutdownNow();
        assertThat(caller.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        direct.close();
        store.close();
        s3.close();
    }

    /** Calls startPartUpload on another thread; fails if it has not returned in a generous time. */
    private PartUpload startOnCaller(Path target) throws Exception {
        Future<PartUpload> started = caller.submit(() -> store.startPartUpload(target));
        try {
            return started.get(20, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(
                    "startPartUpload did not return while the proxy held CreateMultipartUpload: the"
                            + " calling thread waits on S3 to start the upload");
        } catch (ExecutionException e) {
            throw new AssertionError(
                    "startPartUpload threw instead of returning: " + e.getCause(), e.getCause());
        }
    }

    @Test
    void startReturnsWhileCreateMultipartUploadIsHeldAndTheUploadCompletesOnceItIsLetThrough()
            throws Exception {
        String key = "held-" + UUID.randomUUID() + "/f";
        Path target = new Path("s3://" + BUCKET + "/" + key);
        long size = 7 * MB + 321;
        SyntheticSource source = new SyntheticSource(size);
        s3.proxy.holdIf = line -> line.startsWith("POST ") && line.contains("?uploads");

        PartUpload upload = startOnCaller(target);
        // The start is still out there, unanswered: the call above returned before it.
        assertThat(s3.proxy.awaitHeld(20, TimeUnit.SECONDS))
                .as("CreateMultipartUpload reached the proxy")
                .isTrue();
        upload.submitPart(1, S3RequestBodies.slice(source, 0, 5 * MB));
        assertThat(s3.proxy.partsSeen).as("no part goes out before the upload exists").isEmpty();

        s3.proxy.releaseHeld();
        Path written = upload.complete(2, S3RequestBodies.slice(source, 5 * MB, size - 5 * MB));

        assertThat(written.toString()).endsWith(key);
        try (InputStream in = direct.getObject(b -> b.bucket(BUCKET).key(key))) {
            assertThat(source.matches(in)).as("bytes round-trip").isTrue();
        }
        assertThat(store.listPendingUploads(new Path("s3://" + BUCKET + "/"))).isEmpty();
    }

    @Test
    void anUploadAbortedWhileItIsBeingCreatedLeavesNothingPendingOnceTheCreateGoesThrough()
            throws Exception {
        String key = "abandoned-" + UUID.randomUUID() + "/f";
        s3.proxy.holdIf = line -> line.startsWith("POST ") && line.contains("?uploads");

        PartUpload upload = startOnCaller(new Path("s3://" + BUCKET + "/" + key));
        assertThat(s3.proxy.awaitHeld(20, TimeUnit.SECONDS)).isTrue();
        long relayedBefore = s3.proxy.relayed.get();
        upload.abort(); // the task is cancelled while S3 is creating its upload
        s3.proxy.releaseHeld();

        // Whatever S3 created is aborted in the background (by id, or by key after a cancel).
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while ((s3.proxy.relayed.get() == relayedBefore || !pending(key).isEmpty())
                && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertThat(s3.proxy.relayed.get())
                .as("CreateMultipartUpload answered")
                .isGreaterThan(relayedBefore);
        assertThat(pending(key)).as("uploads left pending under the key").isEmpty();
        assertThat(s3.proxy.partsSeen).isEmpty();
    }

    private java.util.List<?> pending(String key) {
        return direct.listMultipartUploads(b -> b.bucket(BUCKET).prefix(key)).uploads();
    }

    @Test
    void aStartThatFailsForGoodFailsCompleteWithTheStoresMessageAndLeavesNothingPending()
            throws Exception {
        String key = "refused-" + UUID.randomUUID() + "/f";
        Path target = new Path("s3://" + BUCKET + "/" + key);
        SyntheticSource source = new SyntheticSource(6 * MB);
        s3.proxy.inject(
                new Fault(Shape.ERROR_XML, 500, "InternalError"),
                line -> line.startsWith("POST ") && line.contains("?uploads"),
                Integer.MAX_VALUE);

        PartUpload upload = startOnCaller(target);
        upload.submitPart(1, S3RequestBodies.slice(source, 0, 5 * MB));

        assertThatThrownBy(() -> upload.complete(2, S3RequestBodies.slice(source, 5 * MB, 1 * MB)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("CreateMultipartUpload of s3://" + BUCKET + "/" + key)
                .hasMessageContaining("Status Code: 500");
        upload.abort(); // idempotent after a failed completion
        assertThat(s3.proxy.faultsInjected.get()).as("every attempt refused").isEqualTo(2);
        assertThat(s3.proxy.partsSeen).as("no part went out").isEmpty();
        s3.proxy.clearFaults();
        assertThat(store.listPendingUploads(new Path("s3://" + BUCKET + "/"))).isEmpty();
        assertThat(direct.listObjectsV2(b -> b.bucket(BUCKET).prefix(key)).contents()).isEmpty();
    }
}
