package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.config.ConfigReading;
import java.io.Serializable;
import java.time.Duration;
import java.util.List;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.util.TimeUtils;

/**
 * The janitor's settings ({@code cleanup.*}, {@code janitor.*}): whether it runs, how old a file
 * must be before it may go (the grace), how often it sweeps, and the other roots whose checkpoints
 * it must honour.
 */
public record CleanupSettings(
        boolean janitorEnabled,
        Duration grace,
        Duration janitorInterval,
        List<String> honouredRoots)
        implements Serializable {

    public CleanupSettings {
        honouredRoots = List.copyOf(honouredRoots);
    }

    /**
     * The grace when none is set: the larger of 1 h and 3 × the checkpoint timeout. A checkpoint
     * being written references files up to its timeout old; three timeouts leave room for a slow
     * finalisation and clock skew between machines.
     */
    public static Duration defaultGrace(Duration checkpointTimeout) {
        Duration three = checkpointTimeout.multipliedBy(3);
        Duration hour = Duration.ofHours(1);
        return three.compareTo(hour) > 0 ? three : hour;
    }

    /**
     * Reads and checks the cleanup keys; a grace shorter than {@code checkpointTimeout} is refused
     * (the janitor would delete files of a checkpoint still being written).
     */
    public static CleanupSettings fromConfig(ReadableConfig config, Duration checkpointTimeout) {
        boolean enabled =
                ConfigReading.read(
                        config, ResilientCheckpointOptions.JANITOR_ENABLED, ConfigReading.BOOLEAN);
        Duration configured =
                ConfigReading.read(
                        config, ResilientCheckpointOptions.CLEANUP_GRACE, ConfigReading.DURATION);
        Duration grace = configured != null ? configured : defaultGrace(checkpointTimeout);
        if (grace.compareTo(checkpointTimeout) < 0) {
            throw new IllegalConfigurationException(
                    String.format(
                            "'%s' (%s) must not be shorter than '%s' (%s): the janitor would delete"
                                    + " files of a checkpoint that is still being written and will"
                                    + " reference them. Raise '%s' or leave it unset (default: the"
                                    + " larger of 1 h and 3 x the timeout).",
                            ResilientCheckpointOptions.CLEANUP_GRACE.key(),
                            TimeUtils.formatWithHighestUnit(grace),
                            CheckpointingOptions.CHECKPOINTING_TIMEOUT.key(),
                            TimeUtils.formatWithHighestUnit(checkpointTimeout),
                            ResilientCheckpointOptions.CLEANUP_GRACE.key()));
        }
        Duration interval =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.JANITOR_INTERVAL,
                        ConfigReading.DURATION);
        List<String> honoured =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.CLEANUP_HONOURED_ROOTS,
                        "a list of directories separated by ';'");
        return new CleanupSettings(enabled, grace, interval, honoured);
    }
}
