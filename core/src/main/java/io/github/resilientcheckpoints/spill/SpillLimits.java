package io.github.resilientcheckpoints.spill;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.config.ConfigReading;
import java.io.File;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.ReadableConfig;

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
        SpillFallback fallback,
        long memoryBudgetBytes)
        implements Serializable {

    public SpillLimits {
        if (floorBytes < 0
                || floorFraction < 0
                || floorFraction >= 1
                || quotaBytes <= 0
                || chunkBytes <= 0
                || probeInterval.isNegative()
                || memoryBudgetBytes < 0) {
            throw new IllegalArgumentException(
                    "invalid spill limits: floor "
                            + floorBytes
                            + "/"
                            + floorFraction
                            + ", quota "
                            + quotaBytes
                            + ", chunk "
                            + chunkBytes
                            + ", probe "
                            + probeInterval
                            + ", memory "
                            + memoryBudgetBytes);
        }
    }

    /** Reads and checks the {@code spill.*} limits (not the directories: {@link #directories}). */
    public static SpillLimits fromConfig(ReadableConfig config) {
        MemorySize floor =
                ConfigReading.read(
                        config, ResilientCheckpointOptions.SPILL_FLOOR, ConfigReading.SIZE);
        double floorFraction =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.SPILL_FLOOR_FRACTION,
                        ConfigReading.NUMBER);
        MemorySize quota =
                ConfigReading.read(
                        config, ResilientCheckpointOptions.SPILL_QUOTA, ConfigReading.SIZE);
        MemorySize chunk =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.SPILL_RESERVATION_CHUNK,
                        ConfigReading.SIZE);
        Duration probe =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.SPILL_PROBE_INTERVAL,
                        ConfigReading.DURATION);
        SpillFallback fallback =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.SPILL_FALLBACK,
                        "one of " + Arrays.toString(SpillFallback.values()));
        MemorySize memory =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.SPILL_FALLBACK_MEMORY_BUDGET,
                        ConfigReading.SIZE);
        ConfigReading.range(
                ResilientCheckpointOptions.SPILL_FLOOR_FRACTION, floorFraction, 0.0, 0.9);
        if (quota.getBytes() <= 0) {
            ConfigReading.fail(ResilientCheckpointOptions.SPILL_QUOTA, quota, "a positive size");
        }
        if (chunk.getBytes() < 4096 || chunk.getBytes() > (1L << 30)) {
            ConfigReading.fail(
                    ResilientCheckpointOptions.SPILL_RESERVATION_CHUNK,
                    chunk,
                    "a size between 4 kb and 1 gb");
        }
        if (probe.isNegative()) {
            ConfigReading.fail(
                    ResilientCheckpointOptions.SPILL_PROBE_INTERVAL,
                    probe,
                    "a duration of 0 or more");
        }
        return new SpillLimits(
                floor.getBytes(),
                floorFraction,
                quota.getBytes(),
                chunk.getBytes(),
                probe,
                fallback,
                memory.getBytes());
    }

    /**
     * The spill directories: {@link ResilientCheckpointOptions#SPILL_DIRECTORIES}, else Flink's
     * {@code io.tmp.dirs}. Only read here; they are created where they are used, on the
     * TaskManager.
     */
    public static List<String> directories(ReadableConfig config) {
        List<String> spill =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.SPILL_DIRECTORIES,
                        "a list of directories separated by ';'");
        if (spill == null || spill.isEmpty()) {
            // Flink's io.tmp.dirs separates with ',' or the path separator.
            spill =
                    Arrays.asList(
                            config.get(CoreOptions.TMP_DIRS).split(",|" + File.pathSeparator));
        }
        List<String> cleaned = new ArrayList<>();
        for (String s : spill) {
            if (!s.isBlank()) {
                cleaned.add(s.trim());
            }
        }
        if (cleaned.isEmpty()) {
            ConfigReading.fail(
                    ResilientCheckpointOptions.SPILL_DIRECTORIES,
                    "''",
                    "at least one local directory");
        }
        return List.copyOf(cleaned);
    }

    /** The free space spilling must leave on a file system of {@code totalBytes}. */
    public long floorFor(long totalBytes) {
        return Math.max(floorBytes, (long) Math.ceil(totalBytes * floorFraction));
    }
}
