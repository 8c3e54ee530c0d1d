package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.upload.Redactor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;

/**
 * {@code timeout}: the checkpoint timeout against our upload budget ({@code
 * retry.deadline-fraction}) and {@code retry.attempt-timeout}, WARN when fewer than two attempts
 * fit; {@code interval}: WARN when no checkpoint interval is set.
 */
final class TimeoutCheck implements PreflightCheck {

    private final Configuration conf;
    private final Redactor redactor;

    TimeoutCheck(Configuration conf, Redactor redactor) {
        this.conf = conf;
        this.redactor = redactor;
    }

    @Override
    public List<Finding> run() {
        List<Finding> findings = new ArrayList<>();
        findings.add(timeouts());
        if (conf.getOptional(CheckpointingOptions.CHECKPOINTING_INTERVAL).isEmpty()) {
            findings.add(
                    Finding.warn(
                            "interval",
                            "'"
                                    + CheckpointingOptions.CHECKPOINTING_INTERVAL.key()
                                    + "' is not set: checkpoints are off unless the job enables them",
                            CheckpointingOptions.CHECKPOINTING_INTERVAL.key() + ": 1 min"));
        }
        return findings;
    }

    private Finding timeouts() {
        Duration timeout;
        Duration attempt;
        double fraction;
        try {
            timeout = conf.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT);
            attempt = conf.get(ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT);
            fraction = conf.get(ResilientCheckpointOptions.DEADLINE_FRACTION);
        } catch (IllegalArgumentException e) {
            return Finding.fail(
                    "timeout",
                    ConfigKeysCheck.rootMessage(e, redactor),
                    "see the config line above");
        }
        Duration budget = Duration.ofNanos((long) (timeout.toNanos() * fraction));
        String numbers =
                String.format(
                        "%s %s: uploads of one checkpoint may take %s (%s %s), one attempt %s (%s)",
                        CheckpointingOptions.CHECKPOINTING_TIMEOUT.key(),
                        Units.format(timeout),
                        Units.format(budget),
                        ResilientCheckpointOptions.DEADLINE_FRACTION.key(),
                        fraction,
                        Units.format(attempt),
                        ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT.key());
        if (attempt.compareTo(budget.dividedBy(2)) > 0) {
            return Finding.warn(
                    "timeout",
                    numbers + ": fewer than two attempts fit into the budget",
                    ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT.key()
                            + ": "
                            + Units.format(budget.dividedBy(3))
                            + " (or raise "
                            + CheckpointingOptions.CHECKPOINTING_TIMEOUT.key()
                            + ")");
        }
        return Finding.ok("timeout", numbers);
    }
}
