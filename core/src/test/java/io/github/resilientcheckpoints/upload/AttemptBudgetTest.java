package io.github.resilientcheckpoints.upload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.testing.FakeTicker;
import io.github.resilientcheckpoints.testing.ScriptedStore;
import io.github.resilientcheckpoints.time.Sleeper;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An attempt's time budget is what is left of the deadline when the attempt starts, that is after
 * it got its upload permit: waiting for a permit must not let an attempt run past the deadline.
 */
class AttemptBudgetTest {

    @TempDir java.nio.file.Path remote;

    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final FakeTicker ticker = new FakeTicker();

    /** One permit: the test holds it, so the upload has to wait. */
    private final UploadThrottle throttle =
            new UploadThrottle(
                    new UploadThrottle.Settings(
                            Long.MAX_VALUE, 1, 0, 1 << 20, 1, 0.5, TimeUnit.SECONDS.toNanos(30)),
                    ticker,
                    Sleeper.SYSTEM);

    @AfterEach
    void tearDown() throws InterruptedException {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    /** Starts an upload to a hanging store with a 10 s deadline and 30 s attempt timeout. */
    private Future<Path> uploadWhileThePermitIsTaken(ScriptedStore store) throws Exception {
        RetryingUploader uploader =
                new RetryingUploader(
                        store,
                        new RetryPolicy(
                                3,
                                Duration.ofMillis(1),
                                Duration.ofMillis(5),
                                Duration.ofSeconds(30)),
                        executor,
                        ticker,
                        () -> 0.5,
                        new StorageMetrics(),
                        Redactor.NONE,
                        throttle);
        assertThat(throttle.tryAcquirePermit()).isTrue();
        long deadline = ticker.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        Thread[] waiter = new Thread[1];
        Future<Path> upload =
                executor.submit(
                        () -> {
                            waiter[0] = Thread.currentThread();
                            return uploader.upload(
                                    new ByteSource(new byte[4096]),
                                    () ->
                                            new Path(
                                                    remote.resolve(UUID.randomUUID().toString())
                                                            .toUri()),
                                    deadline,
                                    new UploadCancellation());
                        });
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while ((waiter[0] == null || waiter[0].getState() != Thread.State.TIMED_WAITING)
                && System.nanoTime() < end) {
            Thread.sleep(1);
        }
        assertThat(store.attempts()).as("no attempt before the permit").isZero();
        return upload;
    }

    @Test
    void attemptStartedAfterAPermitWaitGetsOnlyWhatIsLeftOfTheDeadline() throws Exception {
        ScriptedStore store = new ScriptedStore().thenHang(); // then the real store
        Future<Path> upload = uploadWhileThePermitIsTaken(store);

        ticker.advanceMillis(9_700); // the wait for the permit used up all but 300 ms
        throttle.releasePermit();

        // The hung attempt is given up after 300 ms (not the 10 s left when the loop first looked
        // at the clock) and the retry succeeds.
        Path written = upload.get(5, TimeUnit.SECONDS);
        assertThat(store.attempts()).isEqualTo(2);
        assertThat(Files.exists(Paths.get(written.toUri()))).isTrue();
    }

    @Test
    void noAttemptStartsWhenThePermitCameAfterTheDeadline() throws Exception {
        ScriptedStore store = new ScriptedStore().thenHang();
        Future<Path> upload = uploadWhileThePermitIsTaken(store);

        ticker.advanceMillis(10_500);
        throttle.releasePermit();

        assertThatThrownBy(() -> upload.get(5, TimeUnit.SECONDS))
                .cause()
                .isInstanceOf(CheckpointUploadException.class)
                .hasMessageContaining("deadline");
        assertThat(store.attempts()).as("attempts started past the deadline").isZero();
        assertThat(throttle.inFlight()).isZero();
    }
}
