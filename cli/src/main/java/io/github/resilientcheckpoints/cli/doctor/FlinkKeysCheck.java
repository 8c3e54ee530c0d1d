package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.upload.Redactor;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;

/** {@code storage}, {@code checkpoint-dir}: the Flink keys the storage depends on. */
final class FlinkKeysCheck implements PreflightCheck {

    static final String FACTORY = ResilientCheckpointStorageFactory.class.getName();

    private final Configuration conf;
    private final Redactor redactor;

    FlinkKeysCheck(Configuration conf, Redactor redactor) {
        this.conf = conf;
        this.redactor = redactor;
    }

    /** The Flink keys the storage depends on. */
    @Override
    public List<Finding> run() {
        List<Finding> findings = new ArrayList<>();
        String storage = conf.get(CheckpointingOptions.CHECKPOINT_STORAGE);
        String key = CheckpointingOptions.CHECKPOINT_STORAGE.key();
        if (storage == null) {
            findings.add(
                    Finding.fail(
                            "storage",
                            "'" + key + "' is not set: Flink uses its own checkpoint storage",
                            key + ": " + FACTORY));
        } else if (!storage.equals(FACTORY)) {
            findings.add(
                    Finding.fail(
                            "storage",
                            "'" + key + "' is '" + storage + "', not this storage",
                            key + ": " + FACTORY));
        } else {
            findings.add(Finding.ok("storage", key + " = " + FACTORY));
        }
        String dir = conf.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY);
        if (dir == null) {
            findings.add(
                    Finding.fail(
                            "checkpoint-dir",
                            "'" + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key() + "' is not set",
                            CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                                    + ": s3://<bucket>/<path>"
                                    + " (any scheme Flink has a FileSystem for)"));
        } else {
            findings.add(
                    Finding.ok(
                            "checkpoint-dir",
                            CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                                    + " = "
                                    + redactor.redact(dir)));
        }
        return findings;
    }
}
