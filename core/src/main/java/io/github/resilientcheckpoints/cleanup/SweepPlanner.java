package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsListing;
import io.github.resilientcheckpoints.store.SupportsPendingUploads;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToIntFunction;
import org.apache.flink.core.fs.Path;

/**
 * Decides what in a checkpoint directory is an orphan. Safety rules, each tested:
 *
 * <ul>
 *   <li>never a file referenced by the {@code _metadata} of a retained checkpoint of any job under
 *       the scanned roots (CLAIM restores reference another job's {@code shared/} files);
 *   <li>never a checkpoint another job was restored from until that job has a committed checkpoint
 *       of its own (NO_CLAIM restores; {@link RestoreMarker});
 *   <li>one checkpoint more than retained is kept: the newest {@code _metadata} may never have been
 *       committed by Flink;
 *   <li>never anything younger than the grace period;
 *   <li>never a savepoint directory, nor anything but {@code chk-N}, {@code shared} and {@code
 *       taskowned} inside a job directory;
 *   <li>never a path outside the given root ({@code ..} is refused; local symbolic links are not
 *       followed: the listing reports them as they are and they are never deleted);
 *   <li>a {@code _metadata} that cannot be read stops the sweep of that job with an error, instead
 *       of making its files look like orphans.
 * </ul>
 */
public final class SweepPlanner {

    private final CheckpointStore store;

    public SweepPlanner(CheckpointStore store) {
        store.capability(SupportsListing.class)
                .orElseThrow(
                        () ->
                                new IllegalArgumentException(
                                        "store " + store.name() + " cannot list files"));
        this.store = store;
    }

    /**
     * What to keep.
     *
     * @param retainCheckpoints Flink's number of retained checkpoints for the job ({@code
     *     execution.checkpointing.num-retained}; Flink treats 0 or less as 1), or {@link
     *     Integer#MAX_VALUE} for all
     * @param inProgressFrom checkpoints with this id or higher are in progress (online)
     */
    public record Rules(
            int retainCheckpoints, long graceMillis, long nowMillis, long inProgressFrom) {
        /** Offline defaults: nothing is in progress. */
        public static Rules offline(long graceMillis, long nowMillis, int retain) {
            return new Rules(retain, graceMillis, nowMillis, Long.MAX_VALUE);
        }

        /**
         * Checkpoints with a {@code _metadata} kept per job: one more than retained, because the
         * newest {@code _metadata} may belong to a checkpoint Flink never committed (the JobManager
         * died between writing it and the commit to its HA store); Flink then restores the one
         * before, which must still be whole.
         */
        public int keptCheckpoints() {
            return keptCheckpoints(retainCheckpoints);
        }

        public static int keptCheckpoints(int retain) {
            return retain >= Integer.MAX_VALUE - 1 ? Integer.MAX_VALUE : Math.max(1, retain) + 1;
        }
    }

    /** Lists the roots and reads what every job in them retains and references. */
    public CheckpointIndex index(
            List<Path> roots,
            ToIntFunction<String> keptCheckpoints,
            Rules rules,
            CheckpointIndex.MetadataReader reader)
            throws IOException {
        return CheckpointIndex.build(
                store, roots, keptCheckpoints, rules.graceMillis(), rules.nowMillis(), reader);
    }

    /**
     * Plans the sweep of one job directory ({@code <root>/<job-id>}) of the index. Nothing is
     * planned while the index could not read some {@code _metadata}.
     */
    public SweepPlan planJob(CheckpointIndex index, CheckpointIndex.Job job, Rules rules)
            throws IOException {
        SweepPlan plan = new SweepPlan();
        checkNoDotDot(job.dir());
        if (!index.errors().isEmpty()) {
            plan.errors.addAll(index.errors());
            return plan;
        }

        // Group the job's files by where they live.
        TreeMap<Long, List<StoredFile>> checkpoints = new TreeMap<>();
        List<StoredFile> sharedFiles = new ArrayList<>();
        for (StoredFile f : job.files) {
            String[] rel = Locations.relative(Locations.key(f.path()), job.key);
            long id = CheckpointLayout.checkpointId(rel[0]);
            if (id >= 0 && rel.length >= 2) {
                checkpoints.computeIfAbsent(id, x -> new ArrayList<>()).add(f);
            } else if (CheckpointLayout.isSharedDir(rel[0]) && rel.length >= 2) {
                sharedFiles.add(f);
            } else {
                // savepoint-*, the restore marker, unknown files: never ours to judge
                keep(plan, f, false);
            }
        }

        List<Long> retained = job.retained;
        Map<String, Integer> foreign = new TreeMap<>();
        for (Map.Entry<Long, List<StoredFile>> e : checkpoints.entrySet()) {
            long id = e.getKey();
            if (retained.contains(id) || id >= rules.inProgressFrom()) {
                e.getValue().forEach(f -> keep(plan, f, false));
                continue;
            }
            // Needed by another job (restored from it, or referencing a file in it): kept whole.
            String needed = index.protectedReason(Locations.key(new Path(job.dir, "chk-" + id)));
            if (needed == null) {
                for (StoredFile f : e.getValue()) {
                    List<CheckpointIndex.Holder> holders = index.holders(Locations.key(f.path()));
                    if (!holders.isEmpty()) {
                        needed = "referenced by " + holders.get(0).description();
                        break;
                    }
                }
            }
            if (needed != null) {
                e.getValue().forEach(f -> keep(plan, f, false));
                foreign.merge(
                        "chk-" + id + " of job " + job.id + ": " + needed,
                        e.getValue().size(),
                        Integer::sum);
                continue;
            }
            String reason =
                    job.metadata.containsKey(id)
                            ? "checkpoint "
                                    + id
                                    + " completed but is not among the "
                                    + describe(rules)
                                    + " kept"
                            : "checkpoint "
                                    + id
                                    + " has no _metadata (aborted, expired or never finished)";
            // A checkpoint directory goes as a whole or not at all: all of it must be past the
            // grace.
            boolean allOld = e.getValue().stream().allMatch(f -> old(f, rules));
            for (StoredFile f : e.getValue()) {
                if (allOld) {
                    plan.orphans.add(new SweepPlan.Orphan(f, reason));
                } else {
                    keep(plan, f, true);
                }
            }
        }
        for (StoredFile f : sharedFiles) {
            List<CheckpointIndex.Holder> holders = index.holders(Locations.key(f.path()));
            if (!holders.isEmpty()) {
                keep(plan, f, false);
                CheckpointIndex.Holder other =
                        holders.stream()
                                .filter(h -> !h.jobKey().equals(job.key))
                                .findFirst()
                                .orElse(null);
                if (other != null) {
                    foreign.merge(
                            "files of job " + job.id + ": referenced by " + other.description(),
                            1,
                            Integer::sum);
                }
            } else if (!old(f, rules)) {
                keep(plan, f, true);
            } else {
                plan.orphans.add(
                        new SweepPlan.Orphan(
                                f,
                                "not referenced by any retained checkpoint (of this job: "
                                        + retained
                                        + ", or of any other job read)"));
            }
        }
        foreign.forEach((what, count) -> plan.notes.add("kept " + count + " " + what));
        SupportsPendingUploads pending =
                store.capability(SupportsPendingUploads.class).orElse(null);
        if (pending != null) {
            for (SupportsPendingUploads.PendingUpload u : pending.listPendingUploads(job.dir)) {
                if (rules.nowMillis() - u.initiatedMillis() >= rules.graceMillis()) {
                    plan.pendingUploads.add(u);
                }
            }
        }
        return plan;
    }

    private static String describe(Rules rules) {
        int kept = rules.keptCheckpoints();
        return kept == Integer.MAX_VALUE
                ? "all"
                : rules.retainCheckpoints()
                        + " retained (+1 in case the newest was"
                        + " never committed)";
    }

    /**
     * Every file of a job that is no longer wanted at all (not among the newest jobs) — unless
     * another job still needs anything in it; then the job is swept like a kept one, and the plan
     * says why.
     */
    public SweepPlan planWholeJob(
            CheckpointIndex index, CheckpointIndex.Job job, Rules rules, String reason)
            throws IOException {
        checkNoDotDot(job.dir());
        if (!index.errors().isEmpty()) {
            SweepPlan plan = new SweepPlan();
            plan.errors.addAll(index.errors());
            return plan;
        }
        String neededBy = index.foreignHolderUnder(job.key);
        if (neededBy != null) {
            SweepPlan plan = planJob(index, job, rules);
            plan.notes.add(
                    0,
                    "job "
                            + job.id
                            + " not swept whole ("
                            + reason
                            + "): "
                            + neededBy
                            + " needs files in it; swept like a kept job instead");
            return plan;
        }
        SweepPlan plan = new SweepPlan();
        boolean allOld = job.files.stream().allMatch(f -> old(f, rules));
        for (StoredFile f : job.files) {
            String top = Locations.relative(Locations.key(f.path()), job.key)[0];
            boolean ours = CheckpointLayout.isCheckpointPart(top);
            if (allOld && ours) {
                plan.orphans.add(new SweepPlan.Orphan(f, reason));
            } else {
                keep(plan, f, !allOld && ours);
            }
        }
        SupportsPendingUploads pending =
                store.capability(SupportsPendingUploads.class).orElse(null);
        if (allOld && pending != null) {
            plan.pendingUploads.addAll(pending.listPendingUploads(job.dir));
        }
        return plan;
    }

    private static boolean old(StoredFile f, Rules rules) {
        return rules.nowMillis() - f.modificationTimeMillis() >= rules.graceMillis();
    }

    private static void keep(SweepPlan plan, StoredFile f, boolean onlyYoung) {
        plan.keptFiles++;
        plan.keptBytes += f.size();
        if (onlyYoung) {
            plan.keptYoung++;
        }
    }

    static void checkNoDotDot(Path path) {
        checkNoDotDot(path.toUri().getPath());
    }

    /**
     * Refuses a path with {@code .} or {@code ..} segments; check the raw argument, before parsing
     * normalizes it.
     */
    static void checkNoDotDot(String path) {
        for (String segment : path.split("[/\\\\]")) {
            if (segment.equals("..") || segment.equals(".")) {
                throw new IllegalArgumentException(
                        "Refusing path with '"
                                + segment
                                + "' segments: "
                                + path
                                + " (give the checkpoint directory itself)");
            }
        }
    }
}
