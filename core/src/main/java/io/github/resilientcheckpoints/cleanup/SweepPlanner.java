package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsListing;
import io.github.resilientcheckpoints.store.SupportsPendingUploads;

import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Decides what in a checkpoint directory is an orphan. Safety rules, each tested:
 *
 * <ul>
 *   <li>never a file referenced by the {@code _metadata} of a retained checkpoint;
 *   <li>never anything younger than the grace period;
 *   <li>never a savepoint directory, nor anything but {@code chk-N}, {@code shared} and {@code
 *       taskowned} inside a job directory;
 *   <li>never a path outside the given root ({@code ..} is refused; local symbolic links are not
 *       followed: the listing reports them as they are and they are never deleted);
 *   <li>a {@code _metadata} that cannot be read stops the sweep of that job with an error, instead of
 *       making its files look like orphans.
 * </ul>
 */
public final class SweepPlanner {

    static final Pattern CHECKPOINT_DIR = Pattern.compile("chk-(\\d+)");
    static final Pattern JOB_ID = Pattern.compile("[0-9a-f]{32}");

    private final CheckpointStore store;
    private final SupportsListing listing;
    private final ClassLoader classLoader;

    public SweepPlanner(CheckpointStore store, ClassLoader classLoader) {
        this.listing = store.capability(SupportsListing.class).orElseThrow(
                () -> new IllegalArgumentException("store " + store.name() + " cannot list files"));
        this.store = store;
        this.classLoader = classLoader;
    }

    /** What to keep. */
    public record Rules(int retainCheckpoints, long graceMillis, long nowMillis, long inProgressFrom) {
        /** Offline defaults: keep every completed checkpoint, nothing is in progress. */
        public static Rules offline(long graceMillis, long nowMillis, int retain) {
            return new Rules(retain, graceMillis, nowMillis, Long.MAX_VALUE);
        }
    }

    /**
     * Plans the sweep of one job directory ({@code <root>/<job-id>}).
     *
     * @param rules {@code inProgressFrom}: checkpoints with this id or higher are in progress (online)
     */
    public SweepPlan planJob(Path jobDirectory, Rules rules) throws IOException {
        SweepPlan plan = new SweepPlan();
        String job = MetadataReferences.key(jobDirectory);
        checkNoDotDot(jobDirectory);
        List<StoredFile> files = listing.listFiles(jobDirectory);

        // Group the job's files by where they live.
        TreeMap<Long, List<StoredFile>> checkpoints = new TreeMap<>();
        Set<Long> completed = new HashSet<>();
        List<StoredFile> sharedFiles = new ArrayList<>();
        for (StoredFile f : files) {
            String k = MetadataReferences.key(f.path());
            if (!k.startsWith(job + "/")) {
                plan.errors.add("listing of " + job + " returned " + k + ", outside it; job not swept");
                return plan;
            }
            String[] rel = k.substring(job.length() + 1).split("/");
            Matcher m = CHECKPOINT_DIR.matcher(rel[0]);
            if (m.matches() && rel.length >= 2) {
                long id = Long.parseLong(m.group(1));
                checkpoints.computeIfAbsent(id, x -> new ArrayList<>()).add(f);
                if (rel.length == 2 && MetadataReferences.METADATA.equals(rel[1])) {
                    completed.add(id);
                }
            } else if ((rel[0].equals("shared") || rel[0].equals("taskowned")) && rel.length >= 2) {
                sharedFiles.add(f);
            } else {
                // savepoint-*, unknown files: never ours to judge
                keep(plan, f, false);
            }
        }

        // Retained: the newest completed checkpoints; their references are what must stay.
        List<Long> retained = new ArrayList<>(completed);
        retained.sort(Comparator.reverseOrder());
        retained = retained.subList(0, Math.min(rules.retainCheckpoints(), retained.size()));
        Set<String> referenced = new HashSet<>();
        for (long id : retained) {
            try {
                referenced.addAll(MetadataReferences.read(new Path(jobDirectory, "chk-" + id), classLoader));
            } catch (UnreadableMetadataException e) {
                plan.errors.add(e.getMessage() + "; the sweep of " + job + " stopped, nothing of it is deleted");
                SweepPlan stopped = new SweepPlan();
                stopped.errors.addAll(plan.errors);
                return stopped;
            }
        }

        Map<Long, String> reasons = new HashMap<>();
        for (Map.Entry<Long, List<StoredFile>> e : checkpoints.entrySet()) {
            long id = e.getKey();
            if (retained.contains(id)) {
                e.getValue().forEach(f -> keep(plan, f, false));
                continue;
            }
            if (id >= rules.inProgressFrom()) {
                e.getValue().forEach(f -> keep(plan, f, false));
                continue;
            }
            String reason = completed.contains(id)
                    ? "checkpoint " + id + " completed but is not among the " + rules.retainCheckpoints() + " retained"
                    : "checkpoint " + id + " has no _metadata (aborted, expired or never finished)";
            reasons.put(id, reason);
            // A checkpoint directory goes as a whole or not at all: all of it must be past the grace.
            boolean allOld = e.getValue().stream().allMatch(f -> old(f, rules));
            for (StoredFile f : e.getValue()) {
                if (allOld && !referenced.contains(MetadataReferences.key(f.path()))) {
                    plan.orphans.add(new SweepPlan.Orphan(f, reason));
                } else {
                    keep(plan, f, !allOld);
                }
            }
        }
        for (StoredFile f : sharedFiles) {
            if (referenced.contains(MetadataReferences.key(f.path()))) {
                keep(plan, f, false);
            } else if (!old(f, rules)) {
                keep(plan, f, true);
            } else {
                plan.orphans.add(new SweepPlan.Orphan(f, "not referenced by any of the retained checkpoints "
                        + retained));
            }
        }
        if (store.capability(SupportsPendingUploads.class).isPresent()) {
            for (SupportsPendingUploads.PendingUpload u : store.capability(SupportsPendingUploads.class).get().listPendingUploads(jobDirectory)) {
                if (rules.nowMillis() - u.initiatedMillis() >= rules.graceMillis()) {
                    plan.pendingUploads.add(u);
                }
            }
        }
        return plan;
    }

    /** Every file of a job that is no longer wanted at all (not among the newest jobs). */
    public SweepPlan planWholeJob(Path jobDirectory, Rules rules, String reason) throws IOException {
        SweepPlan plan = new SweepPlan();
        checkNoDotDot(jobDirectory);
        String job = MetadataReferences.key(jobDirectory);
        List<StoredFile> files = listing.listFiles(jobDirectory);
        boolean allOld = files.stream().allMatch(f -> old(f, rules));
        for (StoredFile f : files) {
            String k = MetadataReferences.key(f.path());
            String top = k.startsWith(job + "/") ? k.substring(job.length() + 1).split("/")[0] : null;
            boolean ours = top != null && (CHECKPOINT_DIR.matcher(top).matches() || top.equals("shared")
                    || top.equals("taskowned"));
            if (allOld && ours) {
                plan.orphans.add(new SweepPlan.Orphan(f, reason));
            } else {
                keep(plan, f, !allOld && ours);
            }
        }
        if (allOld && store.capability(SupportsPendingUploads.class).isPresent()) {
            plan.pendingUploads.addAll(store.capability(SupportsPendingUploads.class).get().listPendingUploads(jobDirectory));
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

    /** Refuses a path with {@code .} or {@code ..} segments; check the raw argument, before parsing normalizes it. */
    static void checkNoDotDot(String path) {
        for (String segment : path.split("[/\\\\]")) {
            if (segment.equals("..") || segment.equals(".")) {
                throw new IllegalArgumentException("Refusing path with '" + segment + "' segments: " + path
                        + " (give the checkpoint directory itself)");
            }
        }
    }
}
