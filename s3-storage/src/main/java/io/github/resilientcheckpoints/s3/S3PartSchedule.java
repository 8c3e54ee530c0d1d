package io.github.resilientcheckpoints.s3;

import java.io.IOException;
import org.apache.flink.annotation.VisibleForTesting;

/**
 * How big each part of a multipart upload is, so that {@code maxParts} parts (S3: 10 000) cover
 * files up to S3's largest object (5 TiB) although the writer of a pipelined upload does not know
 * the final size when it sends the first parts.
 *
 * <p>S3 allows parts of different sizes (all but the last at least 5 MiB, none above 5 GiB). Parts
 * are built from units of the configured part size: the first {@code maxParts / 11} parts are one
 * unit each, the next as many two units, then four, and so on, doubling 11 times over the 10 000
 * parts, never above 5 GiB. A file up to {@code 909 × part size} (7 GiB at 8 MiB) is sent exactly
 * as before; at a 5 MiB part size the 10 000 parts cover more than 5 TiB.
 */
final class S3PartSchedule {

    static final int S3_MAX_PARTS = 10_000;
    static final long S3_MAX_PART_BYTES = 5L << 30;
    @VisibleForTesting static final long S3_MAX_OBJECT_BYTES = 5L << 40;

    private final long unitBytes;
    private final int maxParts;
    private final int partsPerStep;
    private final long maxUnits;

    S3PartSchedule(long unitBytes, int maxParts) {
        if (unitBytes < 1 || maxParts < 1) {
            throw new IllegalArgumentException(
                    "part size " + unitBytes + " and part count " + maxParts);
        }
        this.unitBytes = unitBytes;
        this.maxParts = maxParts;
        this.partsPerStep = Math.max(1, maxParts / 11);
        this.maxUnits = Math.max(1, S3_MAX_PART_BYTES / unitBytes);
    }

    /**
     * Units of the configured part size in part {@code partNumber} (1-based), unless it is the
     * last.
     */
    long unitsInPart(int partNumber) {
        int step = Math.min(40, (partNumber - 1) / partsPerStep);
        return Math.min(maxUnits, 1L << step);
    }

    /** The largest file that {@code maxParts} parts hold. */
    long capacityBytes() {
        long units = 0;
        for (int n = 1; n <= maxParts; n++) {
            units += unitsInPart(n);
        }
        return units * unitBytes;
    }

    int maxParts() {
        return maxParts;
    }

    long unitBytes() {
        return unitBytes;
    }

    /** The failure of an upload of {@code location} that needs more than {@code maxParts} parts. */
    IOException tooManyParts(S3Location location) {
        return new IOException(
                "Upload of s3://"
                        + location.bucket()
                        + "/"
                        + location.key()
                        + " needs more than S3's "
                        + maxParts
                        + " parts: the file is larger than "
                        + capacityBytes()
                        + " bytes, the most that parts growing from '"
                        + S3StoreOptions.PART_SIZE.key()
                        + "' ("
                        + unitBytes
                        + " bytes) hold: raise '"
                        + S3StoreOptions.PART_SIZE.key()
                        + "'");
    }
}
