package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.github.resilientcheckpoints.store.AttemptDeadline;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

/**
 * A request S3 reads and never answers, at the default {@code s3.request-timeout} (2 min): the
 * store cuts it at the caller's {@link AttemptDeadline} (the SDK aborts the connection, which an
 * interrupt cannot), so the attempt fails in time for another and its thread is free, for a
 * PutObject, a conditional PutObject ({@code _metadata}) and an UploadPart on a part thread.
 */
class S3AttemptDeadlineTest {

    static final String BUCKET = "deadline";
    static final int MB = 1024 * 1024;

    private ProxiedS3 s3;
    private S3Store store;

    @BeforeEach
    void start() throws Exception {
        s3 = new ProxiedS3(BUCKET);
        Configuration conf = FlinkS3.config(s3.proxy.endpoint());
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        store = (S3Store) new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
    }

    @AfterEach
    void stop() throws Exception {
        try {
            if (store != null) {
                store.close();
            }
        } finally {
            s3.close();
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"PutObject", "conditional PutObject", "UploadPart"})
    void aRequestNeverAnsweredEndsAtTheAttemptDeadline(String request) throws Exception {
        long size = request.equals("UploadPart") ? 6L * MB : 64 * 1024;
        String key = "job/" + request.replace(' ', '-');
        Path target = new Path("s3://" + BUCKET + "/" + key);
        UploadSource bytes = new SyntheticSource(size);
        String line = request.equals("UploadPart") ? "partNumber=" : "PUT /" + BUCKET + "/" + key;
        s3.proxy.inject(
                FaultProxy.Fault.of(FaultProxy.Shape.NO_ANSWER),
                l -> l.startsWith("PUT ") && l.contains(line),
                1);

        // Far shorter than the 2 min the client would wait on its own.
        IOException cut =
                assertTimeoutPreemptively(
                        Duration.ofSeconds(60),
                        () -> {
                            try {
                                AttemptDeadline.during(
                                        System.nanoTime() + TimeUnit.SECONDS.toNanos(2),
                                        () -> write(request, bytes, target));
                                return null;
                            } catch (IOException e) {
                                return e;
                            }
                        });

        assertThat(s3.proxy.faultsInjected.get()).as("the request was left unanswered").isOne();
        assertThat(cut).as("the attempt failed at its deadline").isNotNull();
        assertThat(store.classify(cut)).isEqualTo(FailureClass.TRANSIENT);
        assertThat(Thread.currentThread().isInterrupted()).isFalse();

        // The next attempt, on a fresh connection, writes the file whole.
        s3.proxy.clearFaults();
        AttemptDeadline.during(
                System.nanoTime() + TimeUnit.SECONDS.toNanos(30),
                () -> write(request, bytes, target));
        assertThat(readBack(key)).isEqualTo(size);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"PutObject", "conditional PutObject"})
    void aResendFitsWhenTheDeadlineLeavesTimeForIt(String request) throws Exception {
        String key = "job/resent-" + request.replace(' ', '-');
        Path target = new Path("s3://" + BUCKET + "/" + key);
        UploadSource bytes = new SyntheticSource(64 * 1024);
        // A store that answers 503 at once still gets its resend within the attempt.
        s3.proxy.inject(
                new FaultProxy.Fault(FaultProxy.Shape.ERROR_EMPTY, 503, null),
                l -> l.startsWith("PUT /" + BUCKET + "/" + key),
                1);
        AttemptDeadline.during(
                System.nanoTime() + TimeUnit.SECONDS.toNanos(30),
                () -> write(request, bytes, target));
        assertThat(s3.proxy.faultsInjected.get()).isOne();
        assertThat(readBack(key)).isEqualTo(64 * 1024);
    }

    @Test
    void aPassedDeadlineDoesNotOutliveItsAttempt() throws Exception {
        AttemptDeadline.during(System.nanoTime() + 1, () -> null);
        assertThat(AttemptDeadline.current()).isEmpty();
        String key = "job/after-a-passed-deadline";
        write("PutObject", new SyntheticSource(1024), new Path("s3://" + BUCKET + "/" + key));
        assertThat(readBack(key)).isEqualTo(1024);
    }

    private Void write(String request, UploadSource bytes, Path target) throws IOException {
        if (request.equals("conditional PutObject")) {
            store.createExclusive(bytes, target);
        } else {
            store.upload(bytes, target);
        }
        return null;
    }

    private long readBack(String key) throws IOException {
        try (S3Client client = s3.server.client();
                ResponseInputStream<GetObjectResponse> answer =
                        client.getObject(b -> b.bucket(BUCKET).key(key));
                InputStream in = new BufferedInputStream(answer)) {
            long n = 0;
            long i = 0;
            int b;
            while ((b = in.read()) >= 0) {
                if (b != SyntheticSource.byteAt(i++)) {
                    throw new AssertionError("byte " + (i - 1) + " differs");
                }
                n++;
            }
            return n;
        }
    }
}
