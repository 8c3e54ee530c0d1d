package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.UploadThrottle;
import java.io.InputStream;
import java.net.URI;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.s3.S3Client;

/** The S3 adapter behind a misbehaving network: 503 SlowDown, resets mid-body, corrupted bodies. */
class S3FaultTest {

    static final String BUCKET = "faulty";
    static final long MB = 1 << 20;

    private S3Server server;
    private FaultProxy proxy;
    private S3Store store;
    private S3Client direct;
    private UploadThrottle throttle;

    @BeforeEach
    void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        proxy = new FaultProxy(server.endpoint());
        Configuration conf = FlinkS3.config(proxy.endpoint());
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        conf.setString(S3StoreOptions.PART_ATTEMPTS.key(), "10");
        store = (S3Store) new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
        throttle =
                new UploadThrottle(
                        new UploadThrottle.Settings(
                                512 * MB,
                                MB,
                                8 * MB,
                                256 * 1024,
                                16,
                                0.5,
                                TimeUnit.SECONDS.toNanos(30)),
                        Ticker.SYSTEM,
                        Sleeper.SYSTEM);
        store.onThrottleSignal(throttle::onThrottled);
        direct = server.client();
    }

    @AfterEach
    void stop() throws Exception {
        direct.close();
        store.close();
        proxy.close();
        server.close();
    }

    @Test
    void slowDownsAndResetsOnPartsResendOnlyTheFailedPartsAndSlowTheThrottle() throws Exception {
        proxy.faultOnlyIf = "partNumber=";
        proxy.slowDownRatio = 0.2;
        proxy.resetRatio = 0.1;
        long parts = 0;
        for (int i = 0; i < 4; i++) {
            long size = 24 * MB + i * 1000;
            SyntheticSource source = new SyntheticSource(size);
            Path written =
                    store.upload(source, new Path("s3://" + BUCKET + "/" + UUID.randomUUID()));
            parts += (size + 5 * MB - 1) / (5 * MB);
            try (InputStream in =
                    direct.getObject(b -> b.bucket(BUCKET).key(S3Store.key(written)))) {
                assertThat(source.matches(in)).as("bytes of upload " + i).isTrue();
            }
        }
        long faults = proxy.slowDowns.get() + proxy.resets.get();
        assertThat(faults).as("faults were injected").isGreaterThan(3);
        // Every injected fault costs a resend of that part, and only single parts are ever resent
        // (a
        // loaded machine may add a resend of its own: a timed-out part; never a whole upload).
        assertThat(store.partRetries()).isGreaterThanOrEqualTo(faults);
        assertThat(store.dataRequests()).isEqualTo(parts + store.partRetries());
        assertThat(throttle.throttleSignals()).isEqualTo(proxy.slowDowns.get());
        assertThat(throttle.currentRate()).as("SlowDown cut the rate").isLessThan(512 * MB);
        assertThat(store.listPendingUploads(new Path("s3://" + BUCKET + "/"))).isEmpty();
    }

    @Test
    void aBodyCorruptedInTransitIsDetectedAndResent() throws Exception {
        proxy.faultOnlyIf = "partNumber=";
        proxy.corruptRatio = 0.5;
        SyntheticSource source = new SyntheticSource(30 * MB);
        Path written = store.upload(source, new Path("s3://" + BUCKET + "/" + UUID.randomUUID()));
        assertThat(proxy.corruptions.get()).as("bodies were corrupted").isPositive();
        assertThat(store.partRetries())
                .as("each corrupted part was rejected and resent")
                .isGreaterThanOrEqualTo(proxy.corruptions.get());
        try (InputStream in = direct.getObject(b -> b.bucket(BUCKET).key(S3Store.key(written)))) {
            assertThat(source.matches(in)).isTrue();
        }
    }
}
