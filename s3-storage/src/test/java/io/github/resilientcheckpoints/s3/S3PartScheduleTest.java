package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The part sizes of S3's 10 000 parts: a pipelined writer does not know how big the file gets. */
class S3PartScheduleTest {

    static final long MB = 1 << 20;

    @ParameterizedTest
    @ValueSource(longs = {5, 8, 16, 64, 100, 1024, 5120})
    void tenThousandPartsHoldS3sLargestObjectWithNoPartAboveFiveGib(long partMb) {
        S3PartSchedule schedule = new S3PartSchedule(partMb * MB, S3PartSchedule.S3_MAX_PARTS);
        assertThat(schedule.capacityBytes())
                .isGreaterThanOrEqualTo(S3PartSchedule.S3_MAX_OBJECT_BYTES);
        for (int n = 1; n <= S3PartSchedule.S3_MAX_PARTS; n++) {
            long bytes = schedule.unitsInPart(n) * partMb * MB;
            assertThat(bytes).isBetween(5 * MB, S3PartSchedule.S3_MAX_PART_BYTES);
            if (n > 1) {
                assertThat(schedule.unitsInPart(n))
                        .isGreaterThanOrEqualTo(schedule.unitsInPart(n - 1));
            }
        }
    }

    @Test
    void filesUpToSevenGibAtEightMibKeepEqualParts() {
        S3PartSchedule schedule = new S3PartSchedule(8 * MB, S3PartSchedule.S3_MAX_PARTS);
        for (int n = 1; n <= 909; n++) {
            assertThat(schedule.unitsInPart(n)).isEqualTo(1);
        }
        assertThat(schedule.unitsInPart(910)).isEqualTo(2);
    }

    @Test
    void aSmallPartCountGrowsEveryPart() {
        S3PartSchedule schedule = new S3PartSchedule(5 * MB, 4);
        assertThat(schedule.unitsInPart(1)).isEqualTo(1);
        assertThat(schedule.unitsInPart(2)).isEqualTo(2);
        assertThat(schedule.unitsInPart(3)).isEqualTo(4);
        assertThat(schedule.unitsInPart(4)).isEqualTo(8);
        assertThat(schedule.capacityBytes()).isEqualTo(15 * 5 * MB);
    }
}
