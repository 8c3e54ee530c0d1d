package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.UploadThrottle;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.util.TimeUtils;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The validated settings of one storage instance. Built by {@link #fromConfig}, which is where a bad
 * value fails the job at start with a message naming the key and what it accepts.
 */
public final class ResilientSettings implements Serializable {

    private static final long serialVersionUID = 1L;

    private static final String DURATION_FORMAT =
            "a duration such as '250 ms', '30 s', '2 min' (units: ns, us, ms, s, min, h, d)";

    final int maxAttempts;
    final Duration initialBackoff;
    final Duration maxBackoff;
    final Duration attemptTimeout;
    final double deadlineFraction;
    final Duration checkpointTimeout;
    final int uploadThreads;
    final List<String> spillDirectories;
    final double faultInjectionRatio;
    final SpillLimits spillLimits;
    final double faultInjectionThrottledRatio;
    final UploadThrottle.Settings throttle;
    final boolean janitorEnabled;
    final Duration cleanupGrace;
    final Duration janitorInterval;
    final List<String> honouredRoots;
    final int maxConcurrentCheckpoints;
    final Redactor redactor;

    private ResilientSettings(ReadableConfig config) {
        this.maxAttempts = read(config, ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, "an integer");
        this.initialBackoff = read(config, ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, DURATION_FORMAT);
        this.maxBackoff = read(config, ResilientCheckpointOptions.RETRY_MAX_BACKOFF, DURATION_FORMAT);
        this.attemptTimeout = read(config, ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT, DURATION_FORMAT);
        this.deadlineFraction = read(config, ResilientCheckpointOptions.DEADLINE_FRACTION, "a number");
        this.checkpointTimeout = read(config, CheckpointingOptions.CHECKPOINTING_TIMEOUT, DURATION_FORMAT);
        this.uploadThreads = read(config, ResilientCheckpointOptions.UPLOAD_THREADS, "an integer");
        this.faultInjectionRatio =
                read(config, ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO, "a number");
        List<String> spill = read(config, ResilientCheckpointOptions.SPILL_DIRECTORIES,
                "a list of directories separated by ';'");
        if (spill == null || spill.isEmpty()) {
            // Flink's io.tmp.dirs separates with ',' or the path separator.
            spill = Arrays.asList(config.get(CoreOptions.TMP_DIRS).split(",|" + java.io.File.pathSeparator));
        }
        List<String> cleaned = new ArrayList<>();
        for (String s : spill) {
            if (!s.isBlank()) {
                cleaned.add(s.trim());
            }
        }
        this.spillDirectories = List.copyOf(cleaned);
        this.redactor = Redactor.fromConfig(config);
        String size = "a size such as '512 mb', '4 mb', '1 gb' (units: b, kb, mb, gb, tb)";
        MemorySize floor = read(config, ResilientCheckpointOptions.SPILL_FLOOR, size);
        double floorFraction = read(config, ResilientCheckpointOptions.SPILL_FLOOR_FRACTION, "a number");
        MemorySize quota = read(config, ResilientCheckpointOptions.SPILL_QUOTA, size);
        MemorySize chunk = read(config, ResilientCheckpointOptions.SPILL_RESERVATION_CHUNK, size);
        Duration probe = read(config, ResilientCheckpointOptions.SPILL_PROBE_INTERVAL, DURATION_FORMAT);
        SpillLimits.FallbackPolicy fallback = read(config, ResilientCheckpointOptions.SPILL_FALLBACK,
                "one of " + Arrays.toString(SpillLimits.FallbackPolicy.values()));
        MemorySize memory = read(config, ResilientCheckpointOptions.SPILL_FALLBACK_MEMORY_BUDGET, size);
        if (!(floorFraction >= 0.0 && floorFraction <= 0.9)) {
            fail(ResilientCheckpointOptions.SPILL_FLOOR_FRACTION, floorFraction, "a number between 0.0 and 0.9");
        }
        if (quota.getBytes() <= 0) {
            fail(ResilientCheckpointOptions.SPILL_QUOTA, quota, "a positive size");
        }
        if (chunk.getBytes() < 4096 || chunk.getBytes() > (1L << 30)) {
            fail(ResilientCheckpointOptions.SPILL_RESERVATION_CHUNK, chunk, "a size between 4 kb and 1 gb");
        }
        if (probe.isNegative()) {
            fail(ResilientCheckpointOptions.SPILL_PROBE_INTERVAL, probe, "a duration of 0 or more");
        }
        this.spillLimits = new SpillLimits(floor.getBytes(), floorFraction, quota.getBytes(),
                chunk.getBytes(), probe, fallback, memory.getBytes());
        this.faultInjectionThrottledRatio =
                read(config, ResilientCheckpointOptions.FAULT_INJECTION_THROTTLED_RATIO, "a number");
        if (!(faultInjectionThrottledRatio >= 0.0 && faultInjectionThrottledRatio <= 0.9)) {
            fail(ResilientCheckpointOptions.FAULT_INJECTION_THROTTLED_RATIO, faultInjectionThrottledRatio,
                    "a number between 0.0 and 0.9");
        }
        if (faultInjectionRatio + faultInjectionThrottledRatio > 0.9) {
            throw new IllegalConfigurationException(String.format(
                    "'%s' (%s) and '%s' (%s) together must not exceed 0.9.",
                    ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO.key(), faultInjectionRatio,
                    ResilientCheckpointOptions.FAULT_INJECTION_THROTTLED_RATIO.key(), faultInjectionThrottledRatio));
        }
        MemorySize maxRate = read(config, ResilientCheckpointOptions.THROTTLE_MAX_RATE, size);
        MemorySize minRate = read(config, ResilientCheckpointOptions.THROTTLE_MIN_RATE, size);
        MemorySize burst = read(config, ResilientCheckpointOptions.THROTTLE_BURST, size);
        int concurrent = read(config, ResilientCheckpointOptions.THROTTLE_MAX_CONCURRENT_UPLOADS, "an integer");
        double decrease = read(config, ResilientCheckpointOptions.THROTTLE_DECREASE_FACTOR, "a number");
        range(ResilientCheckpointOptions.THROTTLE_MAX_CONCURRENT_UPLOADS, concurrent, 1, 4096);
        if (minRate.getBytes() <= 0) {
            fail(ResilientCheckpointOptions.THROTTLE_MIN_RATE, minRate, "a positive size per second");
        }
        if (maxRate.getBytes() < minRate.getBytes()) {
            throw new IllegalConfigurationException(String.format(
                    "'%s' (%s) must not be smaller than '%s' (%s).",
                    ResilientCheckpointOptions.THROTTLE_MAX_RATE.key(), maxRate,
                    ResilientCheckpointOptions.THROTTLE_MIN_RATE.key(), minRate));
        }
        if (!(decrease >= 0.1 && decrease <= 0.95)) {
            fail(ResilientCheckpointOptions.THROTTLE_DECREASE_FACTOR, decrease, "a number between 0.1 and 0.95");
        }
        this.janitorEnabled = read(config, ResilientCheckpointOptions.JANITOR_ENABLED, "true or false");
        Duration grace = read(config, ResilientCheckpointOptions.CLEANUP_GRACE, DURATION_FORMAT);
        Duration threeTimeouts = checkpointTimeout.multipliedBy(3);
        this.cleanupGrace = grace != null ? grace
                : (threeTimeouts.compareTo(Duration.ofHours(1)) > 0 ? threeTimeouts : Duration.ofHours(1));
        if (cleanupGrace.compareTo(checkpointTimeout) < 0) {
            // A checkpoint still being written references files up to its timeout old.
            throw new IllegalConfigurationException(String.format(
                    "'%s' (%s) must not be shorter than '%s' (%s): the janitor would delete files of a"
                            + " checkpoint that is still being written and will reference them. Raise '%s' or"
                            + " leave it unset (default: the larger of 1 h and 3 x the timeout).",
                    ResilientCheckpointOptions.CLEANUP_GRACE.key(), TimeUtils.formatWithHighestUnit(cleanupGrace),
                    CheckpointingOptions.CHECKPOINTING_TIMEOUT.key(), TimeUtils.formatWithHighestUnit(checkpointTimeout),
                    ResilientCheckpointOptions.CLEANUP_GRACE.key()));
        }
        this.honouredRoots = List.copyOf(config.get(ResilientCheckpointOptions.CLEANUP_HONOURED_ROOTS));
        this.janitorInterval = read(config, ResilientCheckpointOptions.JANITOR_INTERVAL, DURATION_FORMAT);
        this.maxConcurrentCheckpoints = config.get(CheckpointingOptions.MAX_CONCURRENT_CHECKPOINTS);
        this.throttle = new UploadThrottle.Settings(maxRate.getBytes(), minRate.getBytes(), burst.getBytes(),
                THROTTLE_CHUNK_BYTES, concurrent, decrease, THROTTLE_LOG_INTERVAL.toNanos());
        validate();
    }

    /** Bandwidth is taken in chunks of this size: small enough to interleave uploads fairly. */
    static final long THROTTLE_CHUNK_BYTES = 256 * 1024;

    /** Rate changes are logged at most this often. */
    static final Duration THROTTLE_LOG_INTERVAL = Duration.ofSeconds(30);

    /**
     * Reads and checks every setting. No side effects: the JobManager builds the storage from the
     * same configuration and need not have the TaskManagers' disks, so spill directories are
     * created where they are used, when a TaskManager first needs them ({@link #spillSpaceError}).
     *
     * @throws IllegalConfigurationException naming the key, the value and what is accepted
     */
    public static ResilientSettings fromConfig(ReadableConfig config) {
        return new ResilientSettings(config);
    }

    private void validate() {
        range(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, maxAttempts, 1, 1000);
        range(ResilientCheckpointOptions.UPLOAD_THREADS, uploadThreads, 1, 1024);
        if (initialBackoff.isNegative()) {
            fail(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, initialBackoff, "a duration of 0 or more");
        }
        if (maxBackoff.compareTo(initialBackoff) < 0) {
            throw new IllegalConfigurationException(String.format(
                    "'%s' (%s) must not be smaller than '%s' (%s).",
                    ResilientCheckpointOptions.RETRY_MAX_BACKOFF.key(), maxBackoff,
                    ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF.key(), initialBackoff));
        }
        if (attemptTimeout.isNegative() || attemptTimeout.isZero()) {
            fail(ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT, attemptTimeout, "a positive duration");
        }
        if (!(deadlineFraction >= 0.1 && deadlineFraction <= 1.0)) {
            fail(ResilientCheckpointOptions.DEADLINE_FRACTION, deadlineFraction, "a number between 0.1 and 1.0");
        }
        if (checkpointTimeout.isNegative() || checkpointTimeout.isZero()) {
            fail(CheckpointingOptions.CHECKPOINTING_TIMEOUT, checkpointTimeout, "a positive duration");
        }
        if (!(faultInjectionRatio >= 0.0 && faultInjectionRatio <= 0.9)) {
            fail(ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO, faultInjectionRatio,
                    "a number between 0.0 and 0.9");
        }
        if (spillDirectories.isEmpty()) {
            fail(ResilientCheckpointOptions.SPILL_DIRECTORIES, "''", "at least one local directory");
        }
    }

    /** The error for spill directories that cannot be used on this TaskManager, naming the key. */
    static IOException spillSpaceError(IOException e) {
        return new IOException(String.format(
                "Cannot use the spill directories of '%s' (or 'io.tmp.dirs' when it is not set) on this"
                        + " TaskManager: %s. Give existing or creatable local directories the Flink process can"
                        + " write to, separated by ';'.",
                ResilientCheckpointOptions.SPILL_DIRECTORIES.key(), e.getMessage()), e);
    }

    List<Path> spillPaths() {
        List<Path> paths = new ArrayList<>();
        for (String dir : spillDirectories) {
            paths.add(Paths.get(dir));
        }
        return paths;
    }

    RetryPolicy retryPolicy() {
        return new RetryPolicy(maxAttempts, initialBackoff, maxBackoff, attemptTimeout);
    }

    /** Nanoseconds the uploads of one checkpoint may use, counted from its first sighting. */
    long uploadBudgetNanos() {
        return (long) (checkpointTimeout.toNanos() * deadlineFraction);
    }

    Redactor redactor() {
        return redactor;
    }

    private static <T> T read(ReadableConfig config, ConfigOption<T> option, String accepted) {
        try {
            return config.get(option);
        } catch (IllegalArgumentException e) {
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            throw new IllegalConfigurationException(String.format(
                    "Cannot read '%s': %s. Expected %s.", option.key(), root.getMessage(), accepted), e);
        }
    }

    private static void range(ConfigOption<Integer> option, int value, int min, int max) {
        if (value < min || value > max) {
            fail(option, value, "an integer between " + min + " and " + max);
        }
    }

    private static void fail(ConfigOption<?> option, Object value, String accepted) {
        throw new IllegalConfigurationException(String.format(
                "Invalid value %s for '%s': expected %s.", value, option.key(), accepted));
    }


    @Override
    public String toString() {
        return "ResilientSettings{maxAttempts=" + maxAttempts + ", initialBackoff=" + initialBackoff
                + ", maxBackoff=" + maxBackoff + ", attemptTimeout=" + attemptTimeout
                + ", deadlineFraction=" + deadlineFraction + ", checkpointTimeout=" + checkpointTimeout
                + ", uploadThreads=" + uploadThreads + ", spillDirectories=" + spillDirectories
                + ", spillLimits=" + spillLimits + ", throttle=" + throttle
                + ", faultInjectionRatio=" + faultInjectionRatio
                + ", faultInjectionThrottledRatio=" + faultInjectionThrottledRatio + '}';
    }
}
