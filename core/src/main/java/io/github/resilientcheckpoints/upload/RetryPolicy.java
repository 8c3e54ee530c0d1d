package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.config.ConfigReading;
import io.github.resilientcheckpoints.store.FailureClass;
import java.io.Serializable;
import java.time.Duration;
import java.util.function.DoubleSupplier;
import org.apache.flink.configuration.ReadableConfig;

/**
 * Pure retry decisions: exponential backoff with full jitter, an attempt cap, a per-attempt
 * timeout, and a deadline no attempt or wait may cross. Holds no clock and no randomness of its
 * own, so it is tested with exact numbers.
 */
public final class RetryPolicy implements Serializable {

    private static final long serialVersionUID = 1L;

    private final int maxAttempts;
    private final long initialBackoffNanos;
    private final long maxBackoffNanos;
    private final long attemptTimeoutNanos;

    public RetryPolicy(
            int maxAttempts,
            Duration initialBackoff,
            Duration maxBackoff,
            Duration attemptTimeout) {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be at least 1: " + maxAttempts);
        }
        if (initialBackoff.isNegative() || maxBackoff.compareTo(initialBackoff) < 0) {
            throw new IllegalArgumentException(
                    "need 0 <= initialBackoff <= maxBackoff: "
                            + initialBackoff
                            + ", "
                            + maxBackoff);
        }
        if (attemptTimeout.isNegative() || attemptTimeout.isZero()) {
            throw new IllegalArgumentException(
                    "attemptTimeout must be positive: " + attemptTimeout);
        }
        this.maxAttempts = maxAttempts;
        this.initialBackoffNanos = initialBackoff.toNanos();
        this.maxBackoffNanos = maxBackoff.toNanos();
        this.attemptTimeoutNanos = attemptTimeout.toNanos();
    }

    /**
     * Reads and checks the {@code retry.*} keys ({@link
     * ResilientCheckpointOptions#RETRY_MAX_ATTEMPTS}, the backoffs and the attempt timeout).
     */
    public static RetryPolicy fromConfig(ReadableConfig config) {
        int maxAttempts =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS,
                        ConfigReading.INTEGER);
        Duration initial =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF,
                        ConfigReading.DURATION);
        Duration max =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.RETRY_MAX_BACKOFF,
                        ConfigReading.DURATION);
        Duration attemptTimeout =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT,
                        ConfigReading.DURATION);
        ConfigReading.range(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, maxAttempts, 1, 1000);
        if (initial.isNegative()) {
            ConfigReading.fail(
                    ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF,
                    initial,
                    "a duration of 0 or more");
        }
        if (max.compareTo(initial) < 0) {
            ConfigReading.notSmaller(
                    ResilientCheckpointOptions.RETRY_MAX_BACKOFF, max,
                    ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, initial);
        }
        if (attemptTimeout.isNegative() || attemptTimeout.isZero()) {
            ConfigReading.fail(
                    ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT,
                    attemptTimeout,
                    "a positive duration");
        }
        return new RetryPolicy(maxAttempts, initial, max, attemptTimeout);
    }

    @Override
    public String toString() {
        return "RetryPolicy{maxAttempts="
                + maxAttempts
                + ", initialBackoff="
                + Duration.ofNanos(initialBackoffNanos)
                + ", maxBackoff="
                + Duration.ofNanos(maxBackoffNanos)
                + ", attemptTimeout="
                + Duration.ofNanos(attemptTimeoutNanos)
                + '}';
    }

    public int maxAttempts() {
        return maxAttempts;
    }

    /**
     * Upper bound of the wait after {@code failedAttempts} failures (1 for the wait before the
     * second attempt): {@code min(maxBackoff, initialBackoff * 2^(failedAttempts-1))}.
     */
    public long backoffCapNanos(int failedAttempts) {
        int doublings = Math.max(0, Math.min(failedAttempts - 1, 62));
        long cap = initialBackoffNanos;
        for (int i = 0; i < doublings && cap < maxBackoffNanos; i++) {
            cap = cap > Long.MAX_VALUE / 2 ? Long.MAX_VALUE : cap * 2;
        }
        return Math.min(cap, maxBackoffNanos);
    }

    /** Time the attempt starting at {@code nowNanos} may take: the per-attempt timeout or less. */
    public long attemptTimeoutNanos(long nowNanos, long deadlineNanos) {
        return Math.max(0, Math.min(attemptTimeoutNanos, deadlineNanos - nowNanos));
    }

    /**
     * Decides what follows the failure of attempt number {@code failedAttempts} (1-based).
     *
     * @param uniform a source of uniform doubles in [0, 1) for the jitter
     */
    public Decision onFailure(
            int failedAttempts,
            FailureClass failureClass,
            long nowNanos,
            long deadlineNanos,
            DoubleSupplier uniform) {
        if (!failureClass.retryable()) {
            return Decision.giveUp(GiveUpReason.PERMANENT);
        }
        if (failedAttempts >= maxAttempts) {
            return Decision.giveUp(GiveUpReason.ATTEMPTS_EXHAUSTED);
        }
        long delay = (long) (uniform.getAsDouble() * backoffCapNanos(failedAttempts));
        // Waiting until the deadline and then starting an attempt that has no time is pointless.
        if (nowNanos + delay >= deadlineNanos) {
            return Decision.giveUp(GiveUpReason.DEADLINE);
        }
        return Decision.retryAfter(delay);
    }

    /** Why the retry loop stopped. */
    public enum GiveUpReason {
        PERMANENT,
        ATTEMPTS_EXHAUSTED,
        DEADLINE
    }

    /** Either "retry after this many nanoseconds" or "give up for this reason". */
    public static final class Decision {
        private final long delayNanos;
        private final GiveUpReason giveUpReason;

        private Decision(long delayNanos, GiveUpReason giveUpReason) {
            this.delayNanos = delayNanos;
            this.giveUpReason = giveUpReason;
        }

        static Decision retryAfter(long delayNanos) {
            return new Decision(delayNanos, null);
        }

        static Decision giveUp(GiveUpReason reason) {
            return new Decision(-1, reason);
        }

        public boolean retry() {
            return giveUpReason == null;
        }

        public long delayNanos() {
            return delayNanos;
        }

        public GiveUpReason giveUpReason() {
            return giveUpReason;
        }

        @Override
        public String toString() {
            return retry() ? "retry after " + delayNanos + " ns" : "give up: " + giveUpReason;
        }
    }
}
