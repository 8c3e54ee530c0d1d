package io.github.resilientcheckpoints.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class AttemptDeadlineTest {

    @Test
    void theDeadlineHoldsOnlyWhileItsAttemptRuns() throws IOException {
        assertThat(AttemptDeadline.current()).isEmpty();
        long deadline = System.nanoTime() + 1_000_000_000L;
        OptionalLong seen = AttemptDeadline.during(deadline, AttemptDeadline::current);
        assertThat(seen).hasValue(deadline);
        assertThat(AttemptDeadline.current()).isEmpty();
        assertThat(AttemptDeadline.remainingNanos()).isEmpty();
    }

    @Test
    void anInnerAttemptNeverRunsPastTheOuterOne() throws IOException {
        long outer = System.nanoTime() + 1_000_000_000L;
        long later = outer + 5_000_000_000L;
        long earlier = outer - 500_000_000L;
        AttemptDeadline.during(
                outer,
                () -> {
                    assertThat(AttemptDeadline.during(later, AttemptDeadline::current))
                            .hasValue(outer);
                    assertThat(AttemptDeadline.during(earlier, AttemptDeadline::current))
                            .hasValue(earlier);
                    assertThat(AttemptDeadline.current()).hasValue(outer);
                    assertThat(AttemptDeadline.remainingNanos().getAsLong())
                            .isPositive()
                            .isLessThanOrEqualTo(1_000_000_000L);
                    return null;
                });
    }

    @Test
    void aFailingAttemptLeavesNoDeadlineBehind() throws IOException {
        assertThatThrownBy(
                        () ->
                                AttemptDeadline.during(
                                        System.nanoTime(),
                                        () -> {
                                            throw new IOException("store said no");
                                        }))
                .hasMessage("store said no");
        assertThat(AttemptDeadline.current()).isEmpty();
        assertThat(AttemptDeadline.during(OptionalLong.empty(), AttemptDeadline::current))
                .isEmpty();
    }
}
