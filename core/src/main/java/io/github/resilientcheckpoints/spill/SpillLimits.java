package io.github.resilientcheckpoints.spill;

import java.io.Serializable;
import java.time.Duration;

/**
 * How careful spilling is with disk: the free space our writes must leave on every spill file
 * system (the larger of an absolute floor and a share of its size), the most spill bytes one
 * TaskManager may hold, the reservation chunk, how often free space is probed, and the memory that
 * may stand in when no directory has room.
 */
public record SpillLimits(
        long floorBytes,
        double floorFraction,
        long quotaBytes,
        long chunkBytes,
        Duration probeInterval,
        FallbackPolicy fallback,
        long memoryBudgetBytes) implements Serializable {

    /** What a stream does when no spill directory can take its next chunk. */
    public enum FallbackPolicy {
        /** Keep the rest of the stream in memory, within a per-TaskManager budget; fail beyond it. */
        MEMORY,
        /** Fail the stream (and so the checkpoint) at once with a message naming every directory. */
        FAIL
    }

    public SpillLimits {
        if (floorBytes < 0 || floorFraction < 0 || floorFraction >= 1 || quotaBytes <= 0
                || chunkBytes <= 0 || probeInterval.isNegative() || memoryBudgetBytes < 0) {
            throw new IllegalArgumentException("invalid spill limits: floor " + floorBytes + "/" + floorFraction
                    + ", quota " + quotaBytes + ", chunk " + chunkBytes + ", probe " + probeInterval
                    + ", memory " + memoryBudgetBytes);
        }
    }

    long floorFor(long totalBytes) {
        return Math.max(floorBytes, (long) Math.ceil(totalBytes * floorFraction));
    }
}
