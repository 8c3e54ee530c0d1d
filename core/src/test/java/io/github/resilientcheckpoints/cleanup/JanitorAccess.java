package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import org.apache.flink.core.fs.Path;

/**
 * Runs one janitor sweep of a job directory synchronously, as the JobManager's janitor does, for
 * tests.
 */
public final class JanitorAccess {

    private JanitorAccess() {}

    /** Sweeps as if checkpoint {@code checkpointId} were starting; returns the plan carried out. */
    public static SweepPlan sweep(
            CheckpointStore store,
            Path jobDirectory,
            long checkpointId,
            Duration grace,
            List<Path> honouredRoots) {
        CheckpointJanitor janitor =
                new CheckpointJanitor(
                        store,
                        new StorageMetrics(),
                        1,
                        grace.toMillis(),
                        0,
                        System::currentTimeMillis,
                        honouredRoots,
                        Runnable::run,
                        new HashMap<>(),
                        new CachedMetadataReader(JanitorAccess.class.getClassLoader()));
        return janitor.sweep(jobDirectory, checkpointId);
    }
}
