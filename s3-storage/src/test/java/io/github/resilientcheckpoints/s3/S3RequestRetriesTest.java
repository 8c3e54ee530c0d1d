package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.StoreRequestCounters;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Request resends follow core's {@code RetryPolicy} with the injected clock and waits: as many
 * attempts as {@code s3.part-attempts}, waits within the policy's doubling caps, and a failed
 * upload's cleanup failure attached to the upload's failure.
 */
class S3RequestRetriesTest {

    static final String BUCKET = "retries";

    private ProxiedS3 s3;
    private FaultProxy proxy;
    private S3Store store;
    private final List<Long> waits = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        s3 = new ProxiedS3(BUCKET);
        proxy = s3.proxy;
        Configuration conf = FlinkS3.config(proxy.endpoint());
        store =
                new S3Store(
                        S3StoreProvider.client(conf),
                        new S3Store.Settings(5 << 20, 5 << 20, 2, 3, null, 4),
                        S3StoreProvider.partThreads(2),
                        System::nanoTime,
                        waits::add);
    }

    @AfterEach
    void stop() throws Exception {
        store.close();
        s3.close();
    }

    @Test
    void aRequestIsSentAsOftenAsThePolicyAllowsWaitingWithinItsCaps() {
        proxy.faultOnlyIf = "PUT ";
        proxy.slowDownRatio = 1.0;
        assertThatThrownBy(
                        () ->
                                store.upload(
                                        new SyntheticSource(1000),
                                        new Path("s3://" + BUCKET + "/" + UUID.randomUUID())))
                .hasMessageContaining("PutObject")
                .satisfies(e -> assertThat(store.classify(e)).isEqualTo(FailureClass.THROTTLED));
        assertThat(store.dataRequests()).isEqualTo(3);
        assertThat(waits).hasSize(2);
        assertThat(waits.get(0)).isBetween(0L, TimeUnit.MILLISECONDS.toNanos(100));
        assertThat(waits.get(1)).isBetween(0L, TimeUnit.MILLISECONDS.toNanos(200));
    }

    @Test
    void aCleanupFailureIsAttachedToTheUploadFailure() {
        // Every PUT is refused and so is the DELETE that cleans up after it.
        proxy.faultOnlyIf = "";
        proxy.denyIf = line -> line.startsWith("PUT ") || line.startsWith("DELETE ");
        assertThatThrownBy(
                        () ->
                                store.upload(
                                        new SyntheticSource(1000),
                                        new Path("s3://" + BUCKET + "/" + UUID.randomUUID())))
                .satisfies(e -> assertThat(e.getSuppressed()).as("the failed delete").isNotEmpty());
    }

    /** The SDK's "Read timed out": a SocketTimeoutException (an InterruptedIOException) inside. */
    private static SdkClientException readTimeout() {
        return SdkClientException.create(
                "Unable to execute HTTP request: Read timed out",
                new SocketTimeoutException("Read timed out"));
    }

    @Test
    void aReadTimeoutIsResentNotTakenForACancel() throws IOException {
        S3RequestRetries retries =
                new S3RequestRetries(3, System::nanoTime, nanos -> {}, new StoreRequestCounters());
        AtomicInteger sent = new AtomicInteger();
        String answer =
                retries.send(
                        "UploadPart 1",
                        BUCKET,
                        "k",
                        S3RequestRetries.Payload.PART_BYTES,
                        override -> {
                            if (sent.incrementAndGet() == 1) {
                                throw readTimeout();
                            }
                            return "ok";
                        });
        assertThat(answer).as("the timed-out request was resent").isEqualTo("ok");
        assertThat(sent).hasValue(2);
        assertThat(Thread.currentThread().isInterrupted()).isFalse();
    }

    @Test
    void aCancelEndsTheRequestAtOnce() {
        S3RequestRetries retries =
                new S3RequestRetries(3, System::nanoTime, nanos -> {}, new StoreRequestCounters());
        AtomicInteger sent = new AtomicInteger();
        assertThatThrownBy(
                        () ->
                                retries.send(
                                        "UploadPart 1",
                                        BUCKET,
                                        "k",
                                        S3RequestRetries.Payload.PART_BYTES,
                                        override -> {
                                            sent.incrementAndGet();
                                            throw SdkClientException.create(
                                                    "cancelled",
                                                    new InterruptedIOException("cancelled"));
                                        }))
                .isInstanceOf(IOException.class);
        assertThat(sent).as("not resent").hasValue(1);
    }

    /**
     * Issue #23: a loopback PutObject failed with "Error writing request body to server" and the
     * message did not say why it was not resent. A give-up names its reason and the attempts used,
     * and carries the earlier attempts' failures.
     */
    @Test
    void aGiveUpAfterEveryAttemptSaysSoAndKeepsTheEarlierFailures() {
        AtomicInteger sent = new AtomicInteger();
        IOException failure =
                giveUp(
                        () ->
                                SdkClientException.create(
                                        "Unable to execute HTTP request: broken "
                                                + sent.incrementAndGet(),
                                        new IOException("Error writing request body to server")));
        assertThat(failure)
                .hasMessageContaining("broken 3")
                .hasMessageContaining("not resent: all 3 attempts failed");
        assertThat(failure.getSuppressed())
                .extracting(Throwable::getMessage)
                .anySatisfy(m -> assertThat(m).contains("broken 1"))
                .anySatisfy(m -> assertThat(m).contains("broken 2"));
    }

    @Test
    void aGiveUpOnTheCallersInterruptFlagSaysSo() {
        try {
            assertThat(
                            giveUp(
                                    () -> {
                                        Thread.currentThread().interrupt();
                                        return SdkClientException.create(
                                                "Unable to execute HTTP request",
                                                new IOException(
                                                        "Error writing request body to server"));
                                    }))
                    .hasMessageContaining(
                            "not resent: the calling thread's interrupt flag was set after attempt"
                                    + " 1 of 3");
        } finally {
            Thread.interrupted();
        }
    }

    @Test
    void aGiveUpOnACancelInTheCausesSaysSo() {
        assertThat(
                        giveUp(
                                () ->
                                        SdkClientException.create(
                                                "cancelled",
                                                new InterruptedIOException("cancelled"))))
                .hasMessageContaining(
                        "not resent: cancelled (an interrupt in the failure's causes)"
                                + " after attempt 1 of 3");
    }

    @Test
    void aGiveUpOnAPermanentFailureSaysSo() {
        assertThat(
                        giveUp(
                                () ->
                                        S3Exception.builder()
                                                .statusCode(403)
                                                .message("Access Denied")
                                                .build()))
                .hasMessageContaining("not resent: a permanent failure, after attempt 1 of 3");
    }

    /**
     * What a PutObject ends with whose every attempt (of 3) fails with what {@code failure} makes;
     * null when none was thrown.
     */
    private static IOException giveUp(Supplier<RuntimeException> failure) {
        S3RequestRetries retries =
                new S3RequestRetries(3, System::nanoTime, nanos -> {}, new StoreRequestCounters());
        return catchThrowableOfType(
                IOException.class,
                () ->
                        retries.send(
                                "PutObject",
                                BUCKET,
                                "k",
                                S3RequestRetries.Payload.OBJECT_BYTES,
                                override -> {
                                    throw failure.get();
                                }));
    }
}
