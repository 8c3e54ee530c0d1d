package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.config.ConfigReading;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.Serializable;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import javax.annotation.concurrent.GuardedBy;
import javax.annotation.concurrent.ThreadSafe;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.ReadableConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-TaskManager brake on checkpoint uploads: a byte-rate limit (token bucket) and a cap on
 * concurrent upload attempts, both adapting to the store's push-back (AIMD).
 *
 * <p><b>Rate.</b> Bytes are taken in chunks, each a reservation on a virtual timeline (a token
 * bucket in its GCRA form): a chunk waits until its slot, outside the lock. Slots are handed out in
 * the order chunks ask for them, and a large upload asks again after every chunk, so one huge file
 * cannot starve many small ones. Idle time fills the bucket up to the burst.
 *
 * <p><b>Concurrency.</b> At most {@code limit} attempts hold a permit; waiters are served first
 * come first served.
 *
 * <p><b>Deadline.</b> Every wait is bounded by the caller's deadline: a chunk whose slot lies past
 * it is not reserved, and the caller gets a {@link ThrottleTimeoutException} at once instead of
 * sleeping to no purpose.
 *
 * <p><b>Adaptation.</b> A throttle signal from the store cuts the rate and the concurrency limit by
 * the decrease factor (not below their minimums); every success adds back an additive step (not
 * above the configured maximum). Rate changes are logged at most once per log interval, with the
 * old and the new rate and why.
 */
@ThreadSafe
public final class UploadThrottle {

    private static final Logger LOG = LoggerFactory.getLogger(UploadThrottle.class);

    /** Settings; a max rate of {@link Long#MAX_VALUE} means no byte-rate limit. */
    public record Settings(
            long maxBytesPerSecond,
            long minBytesPerSecond,
            long burstBytes,
            long chunkBytes,
            int maxConcurrency,
            double decreaseFactor,
            long logIntervalNanos)
            implements Serializable {

        public Settings {
            if (minBytesPerSecond <= 0
                    || maxBytesPerSecond < minBytesPerSecond
                    || burstBytes < 0
                    || chunkBytes <= 0
                    || maxConcurrency < 1
                    || !(decreaseFactor > 0 && decreaseFactor < 1)) {
                throw new IllegalArgumentException("invalid throttle settings: " + this);
            }
        }

        /** Bandwidth is taken in chunks of this size: small enough to interleave uploads fairly. */
        static final long CHUNK_BYTES = 256 * 1024;

        /** Rate changes are logged at most this often. */
        static final Duration LOG_INTERVAL = Duration.ofSeconds(30);

        /** Reads and checks the {@code throttle.*} keys. */
        public static Settings fromConfig(ReadableConfig config) {
            MemorySize maxRate =
                    ConfigReading.read(
                            config,
                            ResilientCheckpointOptions.THROTTLE_MAX_RATE,
                            ConfigReading.SIZE);
            MemorySize minRate =
                    ConfigReading.read(
                            config,
                            ResilientCheckpointOptions.THROTTLE_MIN_RATE,
                            ConfigReading.SIZE);
            MemorySize burst =
                    ConfigReading.read(
                            config, ResilientCheckpointOptions.THROTTLE_BURST, ConfigReading.SIZE);
            int concurrent =
                    ConfigReading.read(
                            config,
                            ResilientCheckpointOptions.THROTTLE_MAX_CONCURRENT_UPLOADS,
                            ConfigReading.INTEGER);
            double decrease =
                    ConfigReading.read(
                            config,
                            ResilientCheckpointOptions.THROTTLE_DECREASE_FACTOR,
                            ConfigReading.NUMBER);
            ConfigReading.range(
                    ResilientCheckpointOptions.THROTTLE_MAX_CONCURRENT_UPLOADS,
                    concurrent,
                    1,
                    4096);
            if (minRate.getBytes() <= 0) {
                ConfigReading.fail(
                        ResilientCheckpointOptions.THROTTLE_MIN_RATE,
                        minRate,
                        "a positive size per second");
            }
            if (maxRate.getBytes() < minRate.getBytes()) {
                ConfigReading.notSmaller(
                        ResilientCheckpointOptions.THROTTLE_MAX_RATE, maxRate,
                        ResilientCheckpointOptions.THROTTLE_MIN_RATE, minRate);
            }
            ConfigReading.range(
                    ResilientCheckpointOptions.THROTTLE_DECREASE_FACTOR, decrease, 0.1, 0.95);
            return new Settings(
                    maxRate.getBytes(),
                    minRate.getBytes(),
                    burst.getBytes(),
                    CHUNK_BYTES,
                    concurrent,
                    decrease,
                    LOG_INTERVAL.toNanos());
        }

        public boolean rateLimited() {
            return maxBytesPerSecond != Long.MAX_VALUE;
        }
    }

    /** Thrown when a permit or tokens could not be had before the deadline. */
    public static final class ThrottleTimeoutException extends IOException {
        private static final long serialVersionUID = 1L;

        ThrottleTimeoutException(String message) {
            super(message);
        }
    }

    private final Settings settings;
    private final Ticker ticker;
    private final Sleeper sleeper;

    /** Guards the permits; fair, so waiters get permits first come first served. */
    private final ReentrantLock lock = new ReentrantLock(true);

    private final Condition permitFreed = lock.newCondition();

    /**
     * Guards the bucket. Not fair: it is held for a few arithmetic operations per chunk, and a fair
     * lock would park every contended thread (ThrottleBenchmark, 2 threads, 37 us per chunk with a
     * fair lock, 0.16 us without). Order among uploads comes from the reservations themselves.
     */
    private final ReentrantLock rateLock = new ReentrantLock();

    @GuardedBy("rateLock")
    private double rate;

    /** The lowest rate the store's throttling has cut {@link #rate} to; for diagnosis. */
    @GuardedBy("rateLock")
    private double lowestRate;

    @GuardedBy("rateLock")
    private double nextFreeNanos;

    @GuardedBy("lock")
    private int limit;

    @GuardedBy("lock")
    private int inFlight;

    @GuardedBy("lock")
    private int successesSinceCut;

    @GuardedBy("lock")
    private long lastLogNanos = Long.MIN_VALUE / 2;

    @GuardedBy("lock")
    private double loggedRate;

    @GuardedBy("lock")
    private String pendingReason;

    private final LongAdder waitNanos = new LongAdder();
    private final LongAdder throttleSignals = new LongAdder();

    public UploadThrottle(Settings settings, Ticker ticker, Sleeper sleeper) {
        this.settings = settings;
        this.ticker = ticker;
        this.sleeper = sleeper;
        this.rate = settings.maxBytesPerSecond();
        this.lowestRate = rate;
        this.loggedRate = rate;
        this.limit = settings.maxConcurrency();
        // A theoretical arrival time in the past means a full bucket: the first burst goes at once.
        this.nextFreeNanos = ticker.nanoTime();
    }

    /** No rate limit and a concurrency cap too high to matter: for callers without settings. */
    public static UploadThrottle unlimited(Ticker ticker) {
        return new UploadThrottle(
                new Settings(
                        Long.MAX_VALUE,
                        1,
                        0,
                        1 << 20,
                        Integer.MAX_VALUE / 2,
                        0.5,
                        TimeUnit.SECONDS.toNanos(30)),
                ticker,
                Sleeper.SYSTEM);
    }

    public Settings settings() {
        return settings;
    }

    // ------------------------------------------------------------------ concurrency

    /** Takes one upload permit, waiting first come first served, but never past the deadline. */
    public void acquirePermit(long deadlineNanos) throws IOException {
        long start = ticker.nanoTime();
        lock.lock();
        try {
            while (inFlight >= limit) {
                long left = deadlineNanos - ticker.nanoTime();
                if (left <= 0) {
                    throw new ThrottleTimeoutException(
                            "no upload permit became free before the checkpoint"
                                    + " deadline ("
                                    + inFlight
                                    + " uploads in flight, limit "
                                    + limit
                                    + ")");
                }
                try {
                    permitFreed.awaitNanos(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException(
                            "interrupted while waiting for an upload permit");
                }
            }
            inFlight++;
        } finally {
            lock.unlock();
            waitNanos.add(ticker.nanoTime() - start);
        }
    }

    /** Takes a permit only if one is free now; never waits. */
    public boolean tryAcquirePermit() {
        lock.lock();
        try {
            if (inFlight >= limit) {
                return false;
            }
            inFlight++;
            return true;
        } finally {
            lock.unlock();
        }
    }

    public void releasePermit() {
        lock.lock();
        try {
            inFlight--;
            permitFreed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    // ------------------------------------------------------------------ rate

    /**
     * Takes {@code bytes} tokens in chunks, sleeping for each chunk's slot.
     *
     * @throws ThrottleTimeoutException when a chunk's slot lies past the deadline (nothing is
     *     reserved for it)
     */
    public void acquireBytes(long bytes, long deadlineNanos) throws IOException {
        if (!settings.rateLimited()) {
            return;
        }
        long remaining = bytes;
        while (remaining > 0) {
            long chunk = Math.min(remaining, settings.chunkBytes());
            long wait = reserve(chunk, deadlineNanos);
            if (wait > 0) {
                waitNanos.add(wait);
                try {
                    sleeper.sleepNanos(wait);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException(
                            "interrupted while waiting for upload bandwidth");
                }
            }
            remaining -= chunk;
        }
    }

    /** Reserves a chunk's slot on the timeline; returns how long to wait for it. */
    private long reserve(long chunk, long deadlineNanos) throws ThrottleTimeoutException {
        rateLock.lock();
        try {
            // GCRA: 'tat' is when the bytes reserved so far are paid for at the current rate; a
            // chunk may go as soon as it, too, is paid for within the burst ahead of now. Idle time
            // cannot bank more than the burst, because 'tat' never lags behind now.
            long now = ticker.nanoTime();
            double tat = Math.max(nextFreeNanos, now);
            double paid = tat + chunk * 1e9 / rate;
            double sendAt = Math.max(now, paid - burstNanos(rate));
            if (sendAt > deadlineNanos) {
                throw new ThrottleTimeoutException(
                        String.format(
                                "upload bandwidth (%.0f bytes/s now) cannot serve %d more bytes before the"
                                        + " checkpoint deadline",
                                rate, chunk));
            }
            nextFreeNanos = paid;
            return (long) (sendAt - now);
        } finally {
            rateLock.unlock();
        }
    }

    private double burstNanos(double currentRate) {
        return settings.burstBytes() * 1e9 / currentRate;
    }

    // ------------------------------------------------------------------ adaptation

    /** The store pushed back (503 SlowDown, 429, server busy): cut rate and concurrency. */
    public void onThrottled() {
        throttleSignals.increment();
        lock.lock();
        rateLock.lock();
        try {
            double oldRate = rate;
            rate =
                    Math.max(
                            settings.minBytesPerSecond(),
                            rate == Long.MAX_VALUE ? rate : rate * settings.decreaseFactor());
            limit = Math.max(1, (int) Math.floor(limit * settings.decreaseFactor()));
            successesSinceCut = 0;
            if (oldRate != rate) {
                rebase(oldRate);
            }
            lowestRate = Math.min(lowestRate, rate);
            maybeLog("the store signalled throttling");
        } finally {
            rateLock.unlock();
            lock.unlock();
        }
    }

    /** An upload attempt succeeded: recover additively. */
    public void onSuccess() {
        lock.lock();
        rateLock.lock();
        try {
            successesSinceCut++;
            if (limit < settings.maxConcurrency()) {
                limit++;
                permitFreed.signalAll();
            }
            if (settings.rateLimited() && rate < settings.maxBytesPerSecond()) {
                double oldRate = rate;
                // Twenty successes climb back from the minimum to the maximum.
                double step = (settings.maxBytesPerSecond() - settings.minBytesPerSecond()) / 20.0;
                rate = Math.min(settings.maxBytesPerSecond(), rate + step);
                rebase(oldRate);
                maybeLog("uploads succeed again");
            }
        } finally {
            rateLock.unlock();
            lock.unlock();
        }
    }

    /** Keeps already-reserved future slots consistent when the rate changes. */
    private void rebase(double oldRate) {
        long now = ticker.nanoTime();
        if (nextFreeNanos > now) {
            nextFreeNanos = now + (nextFreeNanos - now) * oldRate / rate;
        }
    }

    private void maybeLog(String reason) {
        long now = ticker.nanoTime();
        if (rate == loggedRate) {
            return;
        }
        if (now - lastLogNanos >= settings.logIntervalNanos()) {
            LOG.info(
                    "Checkpoint upload rate changed from {} to {} bytes/s (concurrency limit {}): {}.",
                    describe(loggedRate),
                    describe(rate),
                    limit,
                    pendingReason == null ? reason : pendingReason + ", then " + reason);
            loggedRate = rate;
            lastLogNanos = now;
            pendingReason = null;
        } else if (pendingReason == null) {
            pendingReason = reason;
        }
    }

    private static String describe(double rate) {
        return rate >= Long.MAX_VALUE ? "unlimited" : String.format("%.0f", rate);
    }

    // ------------------------------------------------------------------ metrics

    /** Current byte rate, or {@link Long#MAX_VALUE} when unlimited. */
    /**
     * The lowest byte rate throttling signals have cut the rate to since this throttle was made
     * ({@code Long.MAX_VALUE} when unlimited and never cut below that).
     */
    public long lowestRate() {
        rateLock.lock();
        try {
            return (long) lowestRate;
        } finally {
            rateLock.unlock();
        }
    }

    public long currentRate() {
        rateLock.lock();
        try {
            return (long) rate;
        } finally {
            rateLock.unlock();
        }
    }

    public int concurrencyLimit() {
        lock.lock();
        try {
            return limit;
        } finally {
            lock.unlock();
        }
    }

    public int inFlight() {
        lock.lock();
        try {
            return inFlight;
        } finally {
            lock.unlock();
        }
    }

    public long waitNanos() {
        return waitNanos.sum();
    }

    public long throttleSignals() {
        return throttleSignals.sum();
    }
}
