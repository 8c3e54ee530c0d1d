package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;

import org.apache.flink.core.fs.Path;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.LongSupplier;

/**
 * The online janitor on the JobManager: when a checkpoint starts, it sweeps the job's checkpoint
 * directory in the background, at most once per interval per job, one sweep at a time per JVM.
 * Checkpoints from {@code id - maxConcurrent} on count as in progress, the newest {@code retain}
 * completed ones as retained; everything else must also be older than the grace period.
 *
 * <p>The sweep thread and the time of each job's last sweep belong to the JVM's runtime, which
 * passes them in (it creates and closes the thread).
 */
public final class CheckpointJanitor {

    private static final Logger LOG = LoggerFactory.getLogger(CheckpointJanitor.class);

    private final CheckpointStore store;
    private final StorageMetrics metrics;
    private final int retain;
    private final int maxConcurrent;
    private final long graceMillis;
    private final long intervalMillis;
    private final LongSupplier clock;
    private final Executor sweeps;
    private final Map<String, Long> lastSweep;

    /**
     * @param sweeps runs the sweeps, one at a time
     * @param lastSweep when each job directory was last swept, shared by the janitors of a JVM
     */
    public CheckpointJanitor(CheckpointStore store, StorageMetrics metrics, int retain, int maxConcurrent,
            long graceMillis, long intervalMillis, LongSupplier clock, Executor sweeps,
            Map<String, Long> lastSweep) {
        this.sweeps = sweeps;
        this.lastSweep = lastSweep;
        this.store = store;
        this.metrics = metrics;
        this.retain = retain;
        this.maxConcurrent = maxConcurrent;
        this.graceMillis = graceMillis;
        this.intervalMillis = intervalMillis;
        this.clock = clock;
    }

    /** Called as checkpoint {@code checkpointId} starts; returns at once. */
    public void checkpointStarting(Path jobDirectory, long checkpointId) {
        String key = jobDirectory.toString();
        long now = clock.getAsLong();
        Long last = lastSweep.get(key);
        if (last != null && now - last < intervalMillis) {
            return;
        }
        lastSweep.put(key, now);
        sweeps.execute(() -> sweep(jobDirectory, checkpointId));
    }

    void sweep(Path jobDirectory, long checkpointId) {
        try {
            SweepPlanner.Rules rules = new SweepPlanner.Rules(retain, graceMillis, clock.getAsLong(),
                    Math.max(0, checkpointId - Math.max(1, maxConcurrent)));
            SweepPlan plan = new SweepPlanner(store, CheckpointJanitor.class.getClassLoader())
                    .planJob(jobDirectory, rules);
            new Sweeper(store, metrics).execute(jobDirectory.toString(), plan);
        } catch (Exception e) {
            metrics.sweep(0, 0, 1);
            LOG.warn("Checkpoint sweep of {} failed: {}", jobDirectory, e.toString());
        }
    }
}
