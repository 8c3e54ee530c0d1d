package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.cleanup.CleanupSettings;
import io.github.resilientcheckpoints.config.ConfigReading;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.store.FaultInjection;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.UploadThrottle;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;

/**
 * The validated settings of one storage instance: each component's own settings, each read and
 * checked by that component's {@code fromConfig} ({@link RetryPolicy}, {@link
 * UploadThrottle.Settings}, {@link SpillLimits}, {@link CleanupSettings}, {@link FaultInjection},
 * {@link Redactor}), plus the few keys of the storage itself (deadline share, upload threads, the
 * submission probe). Built by {@link #fromConfig}, which is where a bad value fails the job at
 * start with a message naming the key and what it accepts.
 */
public final class ResilientSettings implements Serializable {

    private static final long serialVersionUID = 2L;

    final RetryPolicy retryPolicy;
    final double deadlineFraction;
    final Duration checkpointTimeout;
    final int uploadThreads;
    final int maxConcurrentCheckpoints;
    final List<String> spillDirectories;
    final SpillLimits spillLimits;
    final UploadThrottle.Settings throttle;
    final FaultInjection faultInjection;
    final CleanupSettings cleanup;
    final Redactor redactor;

    /** Whether the JobManager writes and reads a probe file before the job's first checkpoint. */
    final boolean probeAtSubmission;

    /** Longest the submission probe may take, retries included. */
    final Duration probeTimeout;

    /** Longest one store operation may hold a Flink JobManager thread. */
    final Duration jobManagerMaxBlocking;

    /**
     * Whether JobManager high availability is configured: a job may then be recovered by a new one.
     */
    final boolean highAvailability;

    private ResilientSettings(ReadableConfig config) {
        this.checkpointTimeout =
                ConfigReading.read(
                        config, CheckpointingOptions.CHECKPOINTING_TIMEOUT, ConfigReading.DURATION);
        if (checkpointTimeout.isNegative() || checkpointTimeout.isZero()) {
            ConfigReading.fail(
                    CheckpointingOptions.CHECKPOINTING_TIMEOUT,
                    checkpointTimeout,
                    "a positive duration");
        }
        this.retryPolicy = RetryPolicy.fromConfig(config);
        this.deadlineFraction =
                ConfigReading.read(
                        config, ResilientCheckpointOptions.DEADLINE_FRACTION, ConfigReading.NUMBER);
        ConfigReading.range(
                ResilientCheckpointOptions.DEADLINE_FRACTION, deadlineFraction, 0.1, 1.0);
        this.uploadThreads =
                ConfigReading.read(
                        config, ResilientCheckpointOptions.UPLOAD_THREADS, ConfigReading.INTEGER);
        ConfigReading.range(ResilientCheckpointOptions.UPLOAD_THREADS, uploadThreads, 1, 1024);
        this.maxConcurrentCheckpoints = config.get(CheckpointingOptions.MAX_CONCURRENT_CHECKPOINTS);
        this.spillDirectories = SpillLimits.directories(config);
        this.spillLimits = SpillLimits.fromConfig(config);
        this.throttle = UploadThrottle.Settings.fromConfig(config);
        this.faultInjection = FaultInjection.fromConfig(config);
        this.cleanup = CleanupSettings.fromConfig(config, checkpointTimeout);
        this.redactor = Redactor.fromConfig(config);
        this.probeAtSubmission =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.PROBE_AT_SUBMISSION,
                        ConfigReading.BOOLEAN);
        this.probeTimeout =
                ConfigReading.read(
                        config, ResilientCheckpointOptions.PROBE_TIMEOUT, ConfigReading.DURATION);
        ConfigReading.range(
                ResilientCheckpointOptions.PROBE_TIMEOUT,
                probeTimeout,
                Duration.ofSeconds(1),
                Duration.ofMinutes(5));
        this.jobManagerMaxBlocking =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.JOBMANAGER_MAX_BLOCKING,
                        ConfigReading.DURATION);
        ConfigReading.range(
                ResilientCheckpointOptions.JOBMANAGER_MAX_BLOCKING,
                jobManagerMaxBlocking,
                Duration.ofMillis(100),
                Duration.ofMinutes(1));
        String ha = config.getOptional(HighAvailabilityOptions.HA_MODE).orElse("NONE").trim();
        this.highAvailability = !ha.isEmpty() && !"NONE".equalsIgnoreCase(ha);
    }

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

    /** The error for spill directories that cannot be used on this TaskManager, naming the key. */
    static IOException spillSpaceError(IOException e) {
        return new IOException(
                String.format(
                        "Cannot use the spill directories of '%s' (or '%s' when it is not"
                                + " set) on this TaskManager: %s. Give existing or creatable local"
                                + " directories the Flink process can write to, separated by ';'.",
                        ResilientCheckpointOptions.SPILL_DIRECTORIES.key(),
                        CoreOptions.TMP_DIRS.key(),
                        e.getMessage()),
                e);
    }

    List<Path> spillPaths() {
        List<Path> paths = new ArrayList<>();
        for (String dir : spillDirectories) {
            paths.add(Paths.get(dir));
        }
        return paths;
    }

    RetryPolicy retryPolicy() {
        return retryPolicy;
    }

    /** Nanoseconds the uploads of one checkpoint may use, counted from its first sighting. */
    long uploadBudgetNanos() {
        return (long) (checkpointTimeout.toNanos() * deadlineFraction);
    }

    long jobManagerMaxBlockingNanos() {
        return jobManagerMaxBlocking.toNanos();
    }

    Redactor redactor() {
        return redactor;
    }

    @Override
    public String toString() {
        return "ResilientSettings{retryPolicy="
                + retryPolicy
                + ", deadlineFraction="
                + deadlineFraction
                + ", checkpointTimeout="
                + checkpointTimeout
                + ", uploadThreads="
                + uploadThreads
                + ", spillDirectories="
                + spillDirectories
                + ", spillLimits="
                + spillLimits
                + ", throttle="
                + throttle
                + ", faultInjection="
                + faultInjection
                + ", cleanup="
                + cleanup
                + ", probeAtSubmission="
                + probeAtSubmission
                + ", probeTimeout="
                + probeTimeout
                + ", jobManagerMaxBlocking="
                + jobManagerMaxBlocking
                + ", highAvailability="
                + highAvailability
                + '}';
    }
}
