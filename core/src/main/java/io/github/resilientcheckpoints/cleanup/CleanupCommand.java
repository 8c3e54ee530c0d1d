package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsListing;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.PluginUtils;
import org.apache.flink.util.TimeUtils;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The offline cleanup command:
 *
 * <pre>
 * cleanup &lt;checkpoint-root-or-job-dir&gt; [--execute] [--older-than 2 h] [--retain N] [--keep-jobs N]
 *         [-Dkey=value ...]
 * </pre>
 *
 * It prints a plan (every file it would delete, its size, age and why) and deletes only with {@code
 * --execute}. Flink's configuration comes from {@code FLINK_CONF_DIR} and {@code -D} options; file
 * system plugins from {@code FLINK_PLUGINS_DIR}.
 */
public final class CleanupCommand {

    static final String USAGE = "usage: cleanup <checkpoint-root-or-job-dir> [--execute] [--older-than <duration>]"
            + " [--retain <n>] [--keep-jobs <n>] [-D<key>=<value> ...]\n"
            + "  --older-than  grace: nothing younger is touched (default: max(1 h, 3 x execution.checkpointing.timeout))\n"
            + "  --retain      completed checkpoints to keep per job, newest first (default: all)\n"
            + "  --keep-jobs   with a checkpoint root: keep the newest N job directories, sweep the others whole\n"
            + "  --execute     delete; without it, only print the plan";

    private CleanupCommand() {}

    public static void main(String[] args) throws Exception {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the command; returns the exit code (0 done, 1 some job not swept, 2 bad usage or refused). */
    public static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        String dir = null;
        boolean execute = false;
        Duration olderThan = null;
        int retain = Integer.MAX_VALUE;
        int keepJobs = -1;
        Configuration conf = System.getenv("FLINK_CONF_DIR") != null
                ? GlobalConfiguration.loadConfiguration(System.getenv("FLINK_CONF_DIR")) : new Configuration();
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--execute")) {
                    execute = true;
                } else if (a.equals("--older-than")) {
                    olderThan = TimeUtils.parseDuration(args[++i]);
                } else if (a.equals("--retain")) {
                    retain = positive("--retain", args[++i]);
                } else if (a.equals("--keep-jobs")) {
                    keepJobs = positive("--keep-jobs", args[++i]);
                } else if (a.startsWith("-D") && a.contains("=")) {
                    conf.setString(a.substring(2, a.indexOf('=')), a.substring(a.indexOf('=') + 1));
                } else if (!a.startsWith("-") && dir == null) {
                    dir = a;
                } else {
                    throw new IllegalArgumentException("unknown argument '" + a + "'");
                }
            }
            if (dir == null) {
                throw new IllegalArgumentException("no directory given");
            }
        } catch (RuntimeException e) {
            err.println("cleanup: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
        Duration grace = olderThan != null ? olderThan : defaultGrace(conf);
        FileSystem.initialize(conf, PluginUtils.createPluginManagerFromRootFolder(conf));
        try {
            SweepPlanner.checkNoDotDot(dir);
        } catch (IllegalArgumentException e) {
            err.println("cleanup: " + e.getMessage());
            return 2;
        }
        Path root = new Path(dir);
        try (CheckpointStore store = CheckpointStores.forRoot(root.toUri(), conf)) {
            return run(store, root, execute, grace, retain, keepJobs, System.currentTimeMillis(), out, err);
        }
    }

    static Duration defaultGrace(Configuration conf) {
        Duration timeout = conf.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT);
        Duration three = timeout.multipliedBy(3);
        return three.compareTo(Duration.ofHours(1)) > 0 ? three : Duration.ofHours(1);
    }

    static int run(CheckpointStore store, Path root, boolean execute, Duration grace, int retain, int keepJobs,
            long now, PrintStream out, PrintStream err) throws Exception {
        if (store.capability(SupportsListing.class).isEmpty()) {
            err.println("cleanup: the store for " + root + " cannot list files");
            return 2;
        }
        List<StoredFile> files = store.capability(SupportsListing.class).get().listFiles(root);
        String rootKey = MetadataReferences.key(root);
        Map<String, Long> jobs = new LinkedHashMap<>(); // job dir -> newest file time
        boolean isJobDir = false;
        for (StoredFile f : files) {
            String k = MetadataReferences.key(f.path());
            if (!k.startsWith(rootKey + "/")) {
                continue;
            }
            String[] rel = k.substring(rootKey.length() + 1).split("/");
            if (rel.length == 1 && rel[0].equals(MetadataReferences.METADATA)) {
                err.println("cleanup: refusing " + root + ": it holds a _metadata itself, so it is a single checkpoint"
                        + " or a savepoint; give the job directory (its parent) or the checkpoint root");
                return 2;
            }
            if (isCheckpointPart(rel[0])) {
                isJobDir = true;
            } else if (SweepPlanner.JOB_ID.matcher(rel[0]).matches() && rel.length >= 2 && isCheckpointPart(rel[1])) {
                jobs.merge(rel[0], f.modificationTimeMillis(), Math::max);
            }
        }
        if (!isJobDir && jobs.isEmpty()) {
            err.println("cleanup: refusing " + root + ": not a Flink checkpoint directory (expected chk-N, shared/ or"
                    + " taskowned/ inside a job directory, or <32-hex job id>/chk-N inside a checkpoint root)");
            return 2;
        }
        SweepPlanner planner = new SweepPlanner(store, CleanupCommand.class.getClassLoader());
        SweepPlanner.Rules rules = SweepPlanner.Rules.offline(grace.toMillis(), now, retain);
        SweepPlan plan = new SweepPlan();
        if (isJobDir) {
            plan.merge(planner.planJob(root, rules));
        } else {
            List<Map.Entry<String, Long>> byAge = new ArrayList<>(jobs.entrySet());
            byAge.sort(Map.Entry.<String, Long>comparingByValue(Comparator.reverseOrder()));
            for (int i = 0; i < byAge.size(); i++) {
                Path job = new Path(root, byAge.get(i).getKey());
                if (keepJobs >= 0 && i >= keepJobs) {
                    plan.merge(planner.planWholeJob(job, rules,
                            "job " + byAge.get(i).getKey() + " is not among the newest " + keepJobs + " jobs"));
                } else {
                    plan.merge(planner.planJob(job, rules));
                }
            }
        }
        print(plan, root, grace, now, execute, out);
        if (execute) {
            Sweeper.Result result = new Sweeper(store, new StorageMetrics()).execute(root.toString(), plan);
            out.printf("Deleted %d files (%d bytes), aborted %d uploads, %d deletions failed%n",
                    result.filesDeleted(), result.bytesDeleted(), result.uploadsAborted(), result.failed().size());
            for (Path p : result.failed()) {
                out.println("  could not delete " + p);
            }
            if (!result.failed().isEmpty()) {
                return 1;
            }
        } else {
            out.println("Dry run: nothing was deleted. Run again with --execute to delete the files above.");
        }
        return plan.errors().isEmpty() ? 0 : 1;
    }

    private static boolean isCheckpointPart(String name) {
        return SweepPlanner.CHECKPOINT_DIR.matcher(name).matches() || name.equals("shared") || name.equals("taskowned");
    }

    private static void print(SweepPlan plan, Path root, Duration grace, long now, boolean execute, PrintStream out) {
        out.printf("Cleanup plan for %s (grace %s)%n", root, TimeUtils.formatWithHighestUnit(grace));
        for (SweepPlan.Orphan o : plan.orphans()) {
            out.printf("  %s %s (%d bytes, %s old): %s%n", execute ? "delete" : "would delete", o.file().path(),
                    o.file().size(), TimeUtils.formatWithHighestUnit(
                            Duration.ofMillis(Math.max(0, now - o.file().modificationTimeMillis())).withNanos(0)),
                    o.reason());
        }
        plan.pendingUploads().forEach(u -> out.printf("  %s incomplete upload %s of %s%n",
                execute ? "abort" : "would abort", u.uploadId(), u.path()));
        plan.errors().forEach(e -> out.println("  NOT SWEPT: " + e));
        out.println("Summary: " + plan.summary());
    }

    private static int positive(String option, String value) {
        try {
            int n = Integer.parseInt(value);
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // fall through
        }
        throw new IllegalArgumentException(option + " needs a number of 0 or more, got '" + value + "'");
    }
}
