package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.LongSupplier;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The online janitor on the JobManager: when a checkpoint starts, it sweeps the job's checkpoint
 * directory in the background, at most once per interval per job, one sweep at a time per JVM.
 * Checkpoints from {@code id - maxConcurrent} on count as in progress; every checkpoint with a
 * {@code _metadata} is kept (deleting completed checkpoints is Flink's job); what other jobs under
 * the same root (and the honoured roots) reference or were restored from is kept; everything else
 * must also be older than the grace period, which is never shorter than the checkpoint timeout.
 *
 * <p>The sweep thread and the time of each job's last sweep belong to the JVM's runtime, which
 * passes them in (it creates and closes the thread).
 */
public final class CheckpointJanitor {

    private static final Logger LOG = LoggerFactory.getLogger(CheckpointJanitor.class);

    private final CheckpointStore store;
    private final StorageMetrics metrics;
    private final int maxConcurrent;
    private final long graceMillis;
    private final long intervalMillis;
    private final LongSupplier clock;
    private final List<Path> honouredRoots;
    private final CheckpointIndex.MetadataReader references;
    private final Executor sweeps;
    private final Map<String, Long> lastSweep;

    /**
     * @param honouredRoots further checkpoint roots whose jobs' references are honoured (the job's
     *     own root is always read)
     * @param sweeps runs the sweeps, one at a time
     * @param lastSweep when each job directory was last swept, shared by the janitors of a JVM
     * @param references reads the references of a {@code _metadata} (the runtime's cached reader)
     */
    public CheckpointJanitor(
            CheckpointStore store,
            StorageMetrics metrics,
            int maxConcurrent,
            long graceMillis,
            long intervalMillis,
            LongSupplier clock,
            List<Path> honouredRoots,
            Executor sweeps,
            Map<String, Long> lastSweep,
            CheckpointIndex.MetadataReader references) {
        this.references = references;
        this.sweeps = sweeps;
        this.lastSweep = lastSweep;
        this.store = store;
        this.metrics = metrics;
        this.maxConcurrent = maxConcurrent;
        this.graceMillis = graceMillis;
        this.intervalMillis = intervalMillis;
        this.clock = clock;
        this.honouredRoots = List.copyOf(honouredRoots);
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

    /**
     * Sweeps the job's own directory. Every job directory under the same root (and under the
     * honoured roots) is read first: what their checkpoints reference, or were restored from,
     * stays.
     */
    SweepPlan sweep(Path jobDirectory, long checkpointId) {
        jobDirectory = Locations.trimmed(jobDirectory);
        try {
            // Completed checkpoints are Flink's to delete: it discards what it subsumes, and it
            // counts
            // 'num-retained' from the cluster's configuration, which this storage cannot see (a
            // job-level
            // value may differ). The janitor therefore keeps every checkpoint with a _metadata and
            // sweeps
            // only what none of them references: aborted chk-N, orphaned shared/taskowned files,
            // incomplete uploads. Completed leftovers are for the offline command's --retain.
            SweepPlanner.Rules rules =
                    new SweepPlanner.Rules(
                            Integer.MAX_VALUE,
                            graceMillis,
                            clock.getAsLong(),
                            Math.max(0, checkpointId - Math.max(1, maxConcurrent)));
            List<Path> roots = new ArrayList<>();
            roots.add(jobDirectory.getParent());
            roots.addAll(honouredRoots);
            SweepPlanner planner = new SweepPlanner(store);
            // Every job's every checkpoint with a _metadata counts, this job's and the others'.
            CheckpointIndex index =
                    planner.index(roots, job -> Integer.MAX_VALUE, rules, references);
            CheckpointIndex.Job job = index.job(jobDirectory);
            if (job == null) {
                return new SweepPlan();
            }
            SweepPlan plan = planner.planJob(index, job, rules);
            new Sweeper(store, metrics).execute(jobDirectory.toString(), plan);
            return plan;
        } catch (Exception e) {
            metrics.sweep(0, 0, 1);
            LOG.warn("Checkpoint sweep of {} failed: {}", jobDirectory, e.toString());
            return null;
        }
    }
}
