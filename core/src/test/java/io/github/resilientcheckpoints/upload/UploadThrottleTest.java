package io.github.resilientcheckpoints.upload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.github.resilientcheckpoints.testing.FakeTicker;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class UploadThrottleTest {

    static final long MB = 1 << 20;
    static final long KB = 1 << 10;
    static final long SECOND = 1_000_000_000L;

    private final FakeTicker clock = new FakeTicker();
    private final Sleeper fakeSleep = clock::advanceNanos;

    private UploadThrottle throttle(long rate, long burst, long chunk, int concurrency) {
        return new UploadThrottle(
                new UploadThrottle.Settings(
                        rate, rate / 10, burst, chunk, concurrency, 0.5, SECOND),
                clock,
                fakeSleep);
    }

    @Test
    void rateOverAWindowIsWithinFivePercent() throws Exception {
        UploadThrottle t = throttle(10 * MB, MB, 64 * KB, 4);
        long start = clock.nanoTime();
        long total = 0;
        while (clock.nanoTime() - start < 20 * SECOND) {
            t.acquireBytes(300 * KB, Long.MAX_VALUE);
            total += 300 * KB;
        }
        double seconds = (clock.nanoTime() - start) / 1e9;
        double measured = (total - MB) / seconds; // the first burst went out at once
        assertThat(measured).isCloseTo(10.0 * MB, within(0.05 * 10 * MB));
    }

    @Test
    void burstGoesOutAtOnceThenTheRateApplies() throws Exception {
        UploadThrottle t = throttle(MB, 512 * KB, 64 * KB, 4);
        long start = clock.nanoTime();
        t.acquireBytes(512 * KB, Long.MAX_VALUE);
        assertThat(clock.nanoTime() - start).as("the burst").isZero();
        t.acquireBytes(64 * KB, Long.MAX_VALUE);
        assertThat(clock.nanoTime() - start)
                .as("next chunk waits its 1/16 s")
                .isBetween(SECOND / 16 - 1000, SECOND / 16 + 1000);
        // idle for a minute refills the bucket, but only to the burst
        clock.advanceMillis(60_000);
        long idle = clock.nanoTime();
        t.acquireBytes(512 * KB, Long.MAX_VALUE);
        assertThat(clock.nanoTime() - idle).isZero();
        t.acquireBytes(64 * KB, Long.MAX_VALUE);
        assertThat(clock.nanoTime() - idle).isGreaterThan(SECOND / 20);
    }

    @Test
    void waitingForBandwidthNeverPassesTheDeadline() {
        UploadThrottle t = throttle(KB * 10, 0, KB, 4);
        long deadline = clock.nanoTime() + SECOND;
        assertThatThrownBy(() -> t.acquireBytes(100 * KB, deadline))
                .isInstanceOf(UploadThrottle.ThrottleTimeoutException.class)
                .hasMessageContaining("before the checkpoint deadline");
        assertThat(clock.nanoTime())
                .as("slept only for slots before the deadline")
                .isLessThanOrEqualTo(deadline);
    }

    @Test
    void waitingForAPermitNeverPassesTheDeadline() throws Exception {
        UploadThrottle t =
                new UploadThrottle(
                        new UploadThrottle.Settings(Long.MAX_VALUE, 1, 0, KB, 1, 0.5, SECOND),
                        Ticker.SYSTEM,
                        Sleeper.SYSTEM);
        t.acquirePermit(Long.MAX_VALUE);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50);
        assertThatThrownBy(() -> t.acquirePermit(deadline))
                .isInstanceOf(UploadThrottle.ThrottleTimeoutException.class)
                .hasMessageContaining("limit 1");
        assertThat(System.nanoTime()).isGreaterThanOrEqualTo(deadline);
        t.releasePermit();
        t.acquirePermit(Long.MAX_VALUE);
        assertThat(t.inFlight()).isEqualTo(1);
    }

    @Test
    void concurrencyCapIsNeverExceededUnderManyThreads() throws Exception {
        UploadThrottle t =
                new UploadThrottle(
                        new UploadThrottle.Settings(Long.MAX_VALUE, 1, 0, KB, 4, 0.5, SECOND),
                        Ticker.SYSTEM,
                        Sleeper.SYSTEM);
        AtomicInteger active = new AtomicInteger();
        AtomicInteger peak = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                futures.add(
                        pool.submit(
                                () -> {
                                    for (int j = 0; j < 200; j++) {
                                        t.acquirePermit(Long.MAX_VALUE);
                                        try {
                                            peak.accumulateAndGet(
                                                    active.incrementAndGet(), Math::max);
                                            Thread.yield();
                                            active.decrementAndGet();
                                        } finally {
                                            t.releasePermit();
                                        }
                                    }
                                    return null;
                                }));
            }
            for (Future<?> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(peak.get()).isLessThanOrEqualTo(4).isGreaterThan(1);
        assertThat(t.inFlight()).isZero();
    }

    @Test
    void aSmallUploadQueuedBehindAHugeOneFinishesFirst() throws Exception {
        UploadThrottle t =
                new UploadThrottle(
                        new UploadThrottle.Settings(20 * MB, MB, 0, 256 * KB, 4, 0.5, SECOND),
                        Ticker.SYSTEM,
                        Sleeper.SYSTEM);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            CountDownLatch hugeStarted = new CountDownLatch(1);
            Future<Long> huge =
                    pool.submit(
                            () -> {
                                t.acquireBytes(256 * KB, Long.MAX_VALUE);
                                hugeStarted.countDown();
                                t.acquireBytes(8 * MB, Long.MAX_VALUE); // 0.4 s at 20 MB/s
                                return System.nanoTime();
                            });
            assertThat(hugeStarted.await(10, TimeUnit.SECONDS)).isTrue();
            Future<Long> small =
                    pool.submit(
                            () -> {
                                t.acquireBytes(256 * KB, Long.MAX_VALUE);
                                return System.nanoTime();
                            });
            assertThat(small.get(10, TimeUnit.SECONDS)).isLessThan(huge.get(10, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void throttleSignalsCutMultiplicativelyAndSuccessesRecoverAdditively() {
        UploadThrottle t = throttle(100 * MB, MB, 64 * KB, 16);
        t.onThrottled();
        assertThat(t.currentRate()).isEqualTo(50 * MB);
        assertThat(t.concurrencyLimit()).isEqualTo(8);
        for (int i = 0; i < 10; i++) {
            t.onThrottled();
        }
        assertThat(t.currentRate()).as("not below the minimum").isEqualTo(10 * MB);
        assertThat(t.concurrencyLimit()).isEqualTo(1);
        assertThat(t.throttleSignals()).isEqualTo(11);
        t.onSuccess();
        assertThat(t.currentRate()).isEqualTo(10 * MB + (90 * MB) / 20);
        assertThat(t.concurrencyLimit()).isEqualTo(2);
        for (int i = 0; i < 30; i++) {
            t.onSuccess();
        }
        assertThat(t.currentRate()).as("not above the maximum").isEqualTo(100 * MB);
        assertThat(t.concurrencyLimit()).isEqualTo(16);
        assertThat(t.lowestRate()).as("the cut stays on record").isEqualTo(10 * MB);
    }
}
