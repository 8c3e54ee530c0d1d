package io.github.resilientcheckpoints.upload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.store.FailureClass;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RetryPolicyTest {

    private static final long MS = 1_000_000L;

    private final RetryPolicy policy =
            new RetryPolicy(
                    6, Duration.ofMillis(100), Duration.ofMillis(1000), Duration.ofSeconds(30));

    @Test
    void backoffCapDoublesFromInitialUpToMax() {
        assertThat(policy.backoffCapNanos(1)).isEqualTo(100 * MS);
        assertThat(policy.backoffCapNanos(2)).isEqualTo(200 * MS);
        assertThat(policy.backoffCapNanos(3)).isEqualTo(400 * MS);
        assertThat(policy.backoffCapNanos(4)).isEqualTo(800 * MS);
        assertThat(policy.backoffCapNanos(5)).isEqualTo(1000 * MS);
        assertThat(policy.backoffCapNanos(500)).isEqualTo(1000 * MS);
    }

    @Test
    void fullJitterSpansZeroToCap() {
        long deadline = Long.MAX_VALUE / 2;
        RetryPolicy.Decision low =
                policy.onFailure(3, FailureClass.TRANSIENT, 0, deadline, () -> 0.0);
        RetryPolicy.Decision mid =
                policy.onFailure(3, FailureClass.TRANSIENT, 0, deadline, () -> 0.5);
        RetryPolicy.Decision high =
                policy.onFailure(3, FailureClass.THROTTLED, 0, deadline, () -> 0.999_999);
        assertThat(low.retry()).isTrue();
        assertThat(low.delayNanos()).isZero();
        assertThat(mid.delayNanos()).isEqualTo(200 * MS);
        assertThat(high.delayNanos()).isBetween(399 * MS, 400 * MS);
    }

    @Test
    void jitterOfManyDrawsStaysWithinCapAndSpreads() {
        Random random = new Random(42);
        long min = Long.MAX_VALUE;
        long max = Long.MIN_VALUE;
        for (int i = 0; i < 10_000; i++) {
            long d =
                    policy.onFailure(
                                    2,
                                    FailureClass.TRANSIENT,
                                    0,
                                    Long.MAX_VALUE / 2,
                                    random::nextDouble)
                            .delayNanos();
            min = Math.min(min, d);
            max = Math.max(max, d);
        }
        assertThat(min).isBetween(0L, 2 * MS);
        assertThat(max).isBetween(198 * MS, 200 * MS);
    }

    @Test
    void permanentFailureGivesUpAtOnce() {
        RetryPolicy.Decision d =
                policy.onFailure(1, FailureClass.PERMANENT, 0, Long.MAX_VALUE, () -> 0.5);
        assertThat(d.retry()).isFalse();
        assertThat(d.giveUpReason()).isEqualTo(RetryPolicy.GiveUpReason.PERMANENT);
    }

    @Test
    void attemptsAreCapped() {
        assertThat(
                        policy.onFailure(5, FailureClass.TRANSIENT, 0, Long.MAX_VALUE, () -> 0.1)
                                .retry())
                .isTrue();
        RetryPolicy.Decision d =
                policy.onFailure(6, FailureClass.TRANSIENT, 0, Long.MAX_VALUE, () -> 0.1);
        assertThat(d.giveUpReason()).isEqualTo(RetryPolicy.GiveUpReason.ATTEMPTS_EXHAUSTED);
    }

    @Test
    void neverWaitsPastTheDeadline() {
        long now = 10_000 * MS;
        // cap before attempt 4 is 800 ms; a 0.5 draw waits 400 ms
        assertThat(
                        policy.onFailure(4, FailureClass.TRANSIENT, now, now + 401 * MS, () -> 0.5)
                                .retry())
                .isTrue();
        RetryPolicy.Decision cut =
                policy.onFailure(4, FailureClass.TRANSIENT, now, now + 400 * MS, () -> 0.5);
        assertThat(cut.giveUpReason()).isEqualTo(RetryPolicy.GiveUpReason.DEADLINE);
        assertThat(policy.onFailure(1, FailureClass.TRANSIENT, now, now, () -> 0.0).giveUpReason())
                .isEqualTo(RetryPolicy.GiveUpReason.DEADLINE);
    }

    @Test
    void attemptTimeoutIsBoundedByTheDeadline() {
        assertThat(policy.attemptTimeoutNanos(0, 60_000 * MS)).isEqualTo(30_000 * MS);
        assertThat(policy.attemptTimeoutNanos(0, 5_000 * MS)).isEqualTo(5_000 * MS);
        assertThat(policy.attemptTimeoutNanos(10 * MS, 5 * MS)).isZero();
    }

    @Test
    void rejectsNonsense() {
        assertThatThrownBy(
                        () ->
                                new RetryPolicy(
                                        0, Duration.ZERO, Duration.ZERO, Duration.ofSeconds(1)))
                .hasMessageContaining("maxAttempts");
        assertThatThrownBy(
                        () ->
                                new RetryPolicy(
                                        1,
                                        Duration.ofSeconds(2),
                                        Duration.ofSeconds(1),
                                        Duration.ofSeconds(1)))
                .hasMessageContaining("initialBackoff <= maxBackoff");
    }
}
