package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsListing;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.flink.core.fs.Path;
import org.apache.flink.util.TimeUtils;

/**
 * One offline sweep of a checkpoint root or of one job directory, as an operator runs it (the
 * command line is in the {@code cli} module). It reads the retained checkpoints of every job
 * directory under the root (for a job directory: under its parent) and under every honoured root,
 * so a file another job references is never deleted; it prints the plan (every file it would
 * delete, its size, age and why; what it keeps for another job's sake) and deletes only when the
 * request says so.
 */
public final class OfflineCleanup {

    private OfflineCleanup() {}

    /**
     * What to sweep and how.
     *
     * @param dir a checkpoint root or a job directory
     * @param grace nothing younger is touched
     * @param retain completed checkpoints to keep per job, newest first ({@link Integer#MAX_VALUE}:
     *     all)
     * @param keepJobs with a checkpoint root: keep the newest N job directories and sweep the
     *     others whole (-1: keep every job directory)
     * @param honourRoots other checkpoint roots whose jobs' checkpoints are honoured, never swept
     * @param execute delete; otherwise only print the plan
     */
    public record Request(
            Path dir,
            Duration grace,
            int retain,
            int keepJobs,
            List<Path> honourRoots,
            boolean execute) {

        public Request {
            SweepPlanner.checkNoDotDot(dir);
            honourRoots.forEach(SweepPlanner::checkNoDotDot);
            honourRoots = List.copyOf(honourRoots);
            dir = Locations.trimmed(dir);
        }

        /**
         * A dry run of {@code dir} that keeps every checkpoint and every job directory. The raw
         * text is checked for {@code .} and {@code ..} segments before parsing normalizes them.
         */
        public static Request dryRun(String dir, Duration grace) {
            SweepPlanner.checkNoDotDot(dir);
            return new Request(new Path(dir), grace, Integer.MAX_VALUE, -1, List.of(), false);
        }

        public Request retaining(int checkpoints) {
            return new Request(dir, grace, checkpoints, keepJobs, honourRoots, execute);
        }

        public Request keepingJobs(int jobs) {
            return new Request(dir, grace, retain, jobs, honourRoots, execute);
        }

        public Request honouring(String root) {
            SweepPlanner.checkNoDotDot(root);
            List<Path> roots = new ArrayList<>(honourRoots);
            roots.add(new Path(root));
            return new Request(dir, grace, retain, keepJobs, roots, execute);
        }

        public Request executing(boolean delete) {
            return new Request(dir, grace, retain, keepJobs, honourRoots, delete);
        }
    }

    /**
     * What a run planned and did.
     *
     * @param swept what was deleted, or null when nothing was (a dry run, or metadata unreadable)
     */
    public record Report(SweepPlan plan, Sweeper.Result swept) {

        /** Every job was swept as planned: no unreadable metadata, no failed deletion. */
        public boolean complete() {
            return plan.errors().isEmpty() && (swept == null || swept.failed().isEmpty());
        }
    }

    /**
     * Plans (and with {@link Request#execute()} deletes), printing the plan to {@code out}.
     *
     * @throws IllegalArgumentException when {@code dir} is refused: not a checkpoint root nor a job
     *     directory, a single checkpoint or savepoint, or a store that cannot list
     */
    public static Report run(Request request, CheckpointStore store, long now, PrintStream out)
            throws IOException {
        Path root = request.dir();
        SupportsListing listing =
                store.capability(SupportsListing.class)
                        .orElseThrow(
                                () ->
                                        new IllegalArgumentException(
                                                "the store for " + root + " cannot list files"));
        boolean isJobDir = isJobDirectory(root, listing);
        Path scanned = isJobDir ? root.getParent() : root;
        List<Path> roots = new ArrayList<>();
        roots.add(scanned);
        roots.addAll(request.honourRoots());

        SweepPlanner planner = new SweepPlanner(store);
        SweepPlanner.Rules rules =
                SweepPlanner.Rules.offline(request.grace().toMillis(), now, request.retain());
        int kept = rules.keptCheckpoints();
        CheckpointIndex index =
                planner.index(
                        roots,
                        job -> kept,
                        rules,
                        CheckpointIndex.MetadataReader.uncached(
                                OfflineCleanup.class.getClassLoader()));
        String rootKey = Locations.key(root);
        String scannedKey = Locations.key(scanned);
        List<CheckpointIndex.Job> sweepable = new ArrayList<>();
        int read = 0;
        for (CheckpointIndex.Job job : index.jobs().values()) {
            read += job.retained.size();
            if (isJobDir ? job.key.equals(rootKey) : Locations.isUnder(job.key, scannedKey)) {
                sweepable.add(job);
            }
        }
        out.printf(
                "Read the retained checkpoints (%d) of %d job directories under %s to honour their references%s%n",
                read,
                index.jobs().size(),
                roots.size() == 1 ? scanned : roots,
                isJobDir
                        ? " (the job's sibling directories included: CLAIM restores reference them)"
                        : "");

        SweepPlan plan = new SweepPlan();
        if (!index.errors().isEmpty()) {
            plan.errors.addAll(index.errors());
        } else if (isJobDir) {
            CheckpointIndex.Job job = index.job(root);
            if (job != null) {
                plan.merge(planner.planJob(index, job, rules));
            }
        } else {
            sweepable.sort(Comparator.comparingLong(CheckpointIndex.Job::newestMillis).reversed());
            for (int i = 0; i < sweepable.size(); i++) {
                CheckpointIndex.Job job = sweepable.get(i);
                if (request.keepJobs() >= 0 && i >= request.keepJobs()) {
                    plan.merge(
                            planner.planWholeJob(
                                    index,
                                    job,
                                    rules,
                                    "job "
                                            + job.id()
                                            + " is not among the newest "
                                            + request.keepJobs()
                                            + " jobs"));
                } else {
                    plan.merge(planner.planJob(index, job, rules));
                }
            }
        }
        print(plan, root, request.grace(), now, request.execute(), out);
        if (!request.execute()) {
            out.println(
                    "Dry run: nothing was deleted. Run again with --execute to delete the files above.");
            return new Report(plan, null);
        }
        if (!plan.errors().isEmpty()) {
            out.println(
                    "Nothing was deleted: some checkpoint metadata could not be read (see NOT SWEPT above).");
            return new Report(plan, null);
        }
        Sweeper.Result result =
                new Sweeper(store, new StorageMetrics()).execute(root.toString(), plan);
        out.printf(
                "Deleted %d files (%d bytes), aborted %d uploads, %d deletions failed%n",
                result.filesDeleted(),
                result.bytesDeleted(),
                result.uploadsAborted(),
                result.failed().size());
        for (Path p : result.failed()) {
            out.println("  could not delete " + p);
        }
        return new Report(plan, result);
    }

    /**
     * True for a job directory, false for a checkpoint root; refuses anything else, so that a
     * mistyped path never gets swept by rules meant for checkpoints.
     */
    private static boolean isJobDirectory(Path root, SupportsListing listing) throws IOException {
        String rootKey = Locations.key(root);
        boolean isJobDir = false;
        boolean hasJobs = false;
        for (StoredFile f : listing.listFiles(root)) {
            String k = Locations.key(f.path());
            if (!k.startsWith(rootKey + "/")) {
                continue;
            }
            String[] rel = Locations.relative(k, rootKey);
            if (rel.length == 1 && rel[0].equals(CheckpointLayout.METADATA)) {
                throw new IllegalArgumentException(
                        "refusing "
                                + root
                                + ": it holds a _metadata itself, so it is a single checkpoint"
                                + " or a savepoint; give the job directory (its parent) or the checkpoint root");
            }
            if (CheckpointLayout.isCheckpointPart(rel[0]) && rel.length >= 2) {
                isJobDir = true;
            } else if (CheckpointLayout.isJobId(rel[0])
                    && rel.length >= 2
                    && (CheckpointLayout.isCheckpointPart(rel[1])
                            || rel[1].equals(CheckpointLayout.RESTORE_MARKER))) {
                hasJobs = true;
            }
        }
        if (!isJobDir && !hasJobs) {
            throw new IllegalArgumentException(
                    "refusing "
                            + root
                            + ": not a Flink checkpoint directory (expected chk-N, shared/ or"
                            + " taskowned/ inside a job directory, or <32-hex job id>/chk-N inside a checkpoint root)");
        }
        if (isJobDir && (root.getParent() == null || !CheckpointLayout.isJobId(root.getName()))) {
            throw new IllegalArgumentException(
                    "refusing "
                            + root
                            + ": a job directory is named by its 32-hex job id (Flink's"
                            + " layout <root>/<job-id>/chk-N); give that directory or the checkpoint root");
        }
        return isJobDir;
    }

    private static void print(
            SweepPlan plan, Path root, Duration grace, long now, boolean execute, PrintStream out) {
        out.printf(
                "Cleanup plan for %s (grace %s)%n", root, TimeUtils.formatWithHighestUnit(grace));
        for (SweepPlan.Orphan o : plan.orphans()) {
            out.printf(
                    "  %s %s (%d bytes, %s old): %s%n",
                    execute ? "delete" : "would delete",
                    o.file().path(),
                    o.file().size(),
                    TimeUtils.formatWithHighestUnit(
                            Duration.ofMillis(Math.max(0, now - o.file().modificationTimeMillis()))
                                    .withNanos(0)),
                    o.reason());
        }
        plan.pendingUploads()
                .forEach(
                        u ->
                                out.printf(
                                        "  %s incomplete upload %s of %s%n",
                                        execute ? "abort" : "would abort", u.uploadId(), u.path()));
        plan.notes().forEach(n -> out.println("  " + n));
        plan.errors().forEach(e -> out.println("  NOT SWEPT: " + e));
        out.println("Summary: " + plan.summary());
    }
}
