package io.github.resilientcheckpoints.upload;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.testing.ScriptedStore;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Retry and throttle together, on the real local file system. */
class ThrottledUploadTest {

    static final long MB = 1 << 20;

    @TempDir java.nio.file.Path remote;

    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final StorageMetrics metrics = new StorageMetrics();
    private final UploadThrottle throttle =
            new UploadThrottle(
                    new UploadThrottle.Settings(
                            64 * MB, MB, 4 * MB, 256 * 1024, 8, 0.5, TimeUnit.SECONDS.toNanos(30)),
                    Ticker.SYSTEM,
                    Sleeper.SYSTEM);

    @AfterEach
    void tearDown() throws InterruptedException {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private RetryingUploader uploader(ScriptedStore store) {
        return new RetryingUploader(
                store,
                new RetryPolicy(
                        10, Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofSeconds(30)),
                executor,
                Ticker.SYSTEM,
                () -> 0.5,
                metrics,
                Redactor.NONE,
                throttle);
    }

    private Path upload(ScriptedStore store, byte[] data) throws IOException {
        return uploader(store)
                .upload(
                        new ByteSource(data),
                        () -> new Path(remote.resolve(UUID.randomUUID().toString()).toUri()),
                        System.nanoTime() + TimeUnit.MINUTES.toNanos(1),
                        new UploadCancellation());
    }

    @Test
    void throttledFailuresAreRetriedAndLowerTheRateWhichRecoversOnSuccess() throws Exception {
        byte[] data = new byte[512 * 1024];
        new Random(1).nextBytes(data);
        ScriptedStore store = new ScriptedStore();
        for (int i = 0; i < 4; i++) {
            store.thenFail(
                    new IOException(
                            "Status Code: 503; Error Code: SlowDown; Please reduce your request rate."));
        }
        Path written = upload(store, data);

        assertThat(store.attempts()).isEqualTo(5);
        assertThat(Files.readAllBytes(Paths.get(written.toUri()))).isEqualTo(data);
        assertThat(throttle.throttleSignals()).isEqualTo(4);
        // 64 -> 32 -> 16 -> 8 -> 4 MB/s, then one success adds (64 - 1) / 20 MB/s
        assertThat(throttle.currentRate()).isEqualTo(4 * MB + (63 * MB) / 20);
        assertThat(throttle.concurrencyLimit()).isEqualTo(1 + 1);

        for (int i = 0; i < 20; i++) {
            upload(new ScriptedStore(), data);
        }
        assertThat(throttle.currentRate()).as("recovered").isEqualTo(64 * MB);
        assertThat(throttle.concurrencyLimit()).isEqualTo(8);
        // a permit is returned when the attempt's thread leaves the store, just after the result
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (throttle.inFlight() > 0 && System.nanoTime() < end) {
            Thread.sleep(1);
        }
        assertThat(throttle.inFlight()).isZero();
    }

    @Test
    void transientFailuresRetryWithoutSlowingDown() throws Exception {
        ScriptedStore store =
                new ScriptedStore()
                        .thenFail(new IOException("Connection reset"))
                        .thenFail(new IOException("Connection reset"));
        upload(store, new byte[1000]);
        assertThat(store.attempts()).isEqualTo(3);
        assertThat(throttle.throttleSignals()).isZero();
        assertThat(throttle.currentRate()).isEqualTo(64 * MB);
    }
}
