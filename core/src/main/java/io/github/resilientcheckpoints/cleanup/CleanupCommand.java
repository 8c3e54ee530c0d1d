package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsListing;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.PluginUtils;
import org.apache.flink.util.TimeUtils;

/**
 * The offline cleanup command:
 *
 * <pre>
 * cleanup &lt;checkpoint-root-or-job-dir&gt; [--execute] [--older-than 2 h] [--retain N] [--keep-jobs N]
 *         [--honour-root DIR ...] [--allow-grace-below-timeout] [-Dkey=value ...]
 * </pre>
 *
 * It prints a plan (every file it would delete, its size, age and why; what it keeps for another
 * job's sake) and deletes only with {@code --execute}. Before planning it reads the retained
 * checkpoints of every job directory under the root (for a job directory: under its parent) and
 * under every {@code --honour-root}, so a file another job references is never deleted. Flink's
 * configuration comes from {@code FLINK_CONF_DIR} and {@code -D} options; file system plugins from
 * {@code FLINK_PLUGINS_DIR}.
 */
public final class CleanupCommand {

    /**
     * One line per option; the process entry point is {@code
     * io.github.resilientcheckpoints.cli.Main}.
     */
    public static final String USAGE =
            "usage: cleanup <checkpoint-root-or-job-dir> [--execute] [--older-than <duration>]"
                    + " [--retain <n>] [--keep-jobs <n>] [--honour-root <dir> ...] [--allow-grace-below-timeout]"
                    + " [-D<key>=<value> ...]\n"
                    + "  --older-than  grace: nothing younger is touched (default: max(1 h, 3 x execution.checkpointing.timeout));\n"
                    + "                below execution.checkpointing.timeout only with --allow-grace-below-timeout\n"
                    + "  --retain      completed checkpoints to keep per job, newest first, 1 or more (default: all);\n"
                    + "                one more is kept in case the newest was never committed by Flink\n"
                    + "  --keep-jobs   with a checkpoint root: keep the newest N (1 or more) job directories, sweep the others\n"
                    + "                whole unless another job still needs files in them\n"
                    + "  --honour-root another checkpoint root whose jobs' checkpoints must be honoured (e.g. a job restored\n"
                    + "                from a checkpoint under the swept root); read, never swept; repeatable\n"
                    + "  --execute     delete; without it, only print the plan";

    private CleanupCommand() {}

    /** Parsed command line. */
    record Options(
            String dir,
            boolean execute,
            Duration olderThan,
            int retain,
            int keepJobs,
            List<String> honourRoots,
            boolean allowShortGrace,
            Configuration conf) {

        Duration grace() {
            return olderThan != null ? olderThan : defaultGrace(conf);
        }
    }

    static Options parse(String[] args, Configuration conf) {
        String dir = null;
        boolean execute = false;
        boolean allowShortGrace = false;
        Duration olderThan = null;
        int retain = Integer.MAX_VALUE;
        int keepJobs = -1;
        List<String> honour = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--execute")) {
                execute = true;
            } else if (a.equals("--allow-grace-below-timeout")) {
                allowShortGrace = true;
            } else if (a.equals("--older-than")) {
                olderThan = TimeUtils.parseDuration(value(args, ++i, a));
            } else if (a.equals("--retain")) {
                retain =
                        atLeastOne(
                                "--retain",
                                value(args, ++i, a),
                                "Flink always retains at least 1 checkpoint; 0 would delete the one a restore needs");
            } else if (a.equals("--keep-jobs")) {
                keepJobs =
                        atLeastOne(
                                "--keep-jobs",
                                value(args, ++i, a),
                                "0 would sweep every job whole, the running one included");
            } else if (a.equals("--honour-root")) {
                String root = value(args, ++i, a);
                SweepPlanner.checkNoDotDot(root);
                honour.add(root);
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
        return new Options(
                dir, execute, olderThan, retain, keepJobs, honour, allowShortGrace, conf);
    }

    /**
     * Runs the command; returns the exit code (0 done, 1 some job not swept, 2 bad usage or
     * refused).
     */
    public static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Configuration conf =
                System.getenv("FLINK_CONF_DIR") != null
                        ? GlobalConfiguration.loadConfiguration(System.getenv("FLINK_CONF_DIR"))
                        : new Configuration();
        Options options;
        try {
            options = parse(args, conf);
        } catch (RuntimeException e) {
            err.println("cleanup: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
        FileSystem.initialize(conf, PluginUtils.createPluginManagerFromRootFolder(conf));
        try {
            SweepPlanner.checkNoDotDot(options.dir());
        } catch (IllegalArgumentException e) {
            err.println("cleanup: " + e.getMessage());
            return 2;
        }
        try (CheckpointStore store =
                CheckpointStores.forRoot(new Path(options.dir()).toUri(), conf)) {
            return run(options, store, System.currentTimeMillis(), out, err);
        }
    }

    /** Runs the command line against a given store (tests, and the command itself). */
    static int run(
            String[] args,
            Configuration conf,
            CheckpointStore store,
            long now,
            PrintStream out,
            PrintStream err)
            throws Exception {
        Options options;
        try {
            options = parse(args, conf);
            SweepPlanner.checkNoDotDot(options.dir());
        } catch (RuntimeException e) {
            err.println("cleanup: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
        return run(options, store, now, out, err);
    }

    static Duration defaultGrace(Configuration conf) {
        return CleanupSettings.defaultGrace(conf.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT));
    }

    static int run(
            Options options, CheckpointStore store, long now, PrintStream out, PrintStream err)
            throws Exception {
        Path root = Locations.trimmed(new Path(options.dir()));
        Duration grace = options.grace();
        Duration timeout = options.conf().get(CheckpointingOptions.CHECKPOINTING_TIMEOUT);
        if (grace.compareTo(timeout) < 0) {
            String what =
                    "--older-than "
                            + TimeUtils.formatWithHighestUnit(grace)
                            + " is shorter than "
                            + CheckpointingOptions.CHECKPOINTING_TIMEOUT.key()
                            + " ("
                            + TimeUtils.formatWithHighestUnit(timeout)
                            + "): files of a checkpoint that is still being written, and will reference them, could be deleted";
            if (!options.allowShortGrace()) {
                err.println(
                        "cleanup: "
                                + what
                                + ". Give a grace of at least the checkpoint timeout (or set -D"
                                + CheckpointingOptions.CHECKPOINTING_TIMEOUT.key()
                                + "=<the jobs' timeout>), or add"
                                + " --allow-grace-below-timeout if no job writes under "
                                + root
                                + " any more.");
                return 2;
            }
            err.println(
                    "cleanup: WARNING: "
                            + what
                            + "; going ahead because of --allow-grace-below-timeout.");
        }
        SupportsListing listing = store.capability(SupportsListing.class).orElse(null);
        if (listing == null) {
            err.println("cleanup: the store for " + root + " cannot list files");
            return 2;
        }
        String rootKey = Locations.key(root);
        boolean isJobDir = false;
        boolean hasJobs = false;
        for (StoredFile f : listing.listFiles(root)) {
            String k = Locations.key(f.path());
            if (!k.startsWith(rootKey + "/")) {
                continue;
            }
            String[] rel = Locations.relative(k, rootKey);
            if (rel.length == 1 && rel[0].equals(MetadataReferences.METADATA)) {
                err.println(
                        "cleanup: refusing "
                                + root
                                + ": it holds a _metadata itself, so it is a single checkpoint"
                                + " or a savepoint; give the job directory (its parent) or the checkpoint root");
                return 2;
            }
            if (isCheckpointPart(rel[0]) && rel.length >= 2) {
                isJobDir = true;
            } else if (SweepPlanner.JOB_ID.matcher(rel[0]).matches()
                    && rel.length >= 2
                    && (isCheckpointPart(rel[1]) || rel[1].equals(RestoreMarker.FILE_NAME))) {
                hasJobs = true;
            }
        }
        if (!isJobDir && !hasJobs) {
            err.println(
                    "cleanup: refusing "
                            + root
                            + ": not a Flink checkpoint directory (expected chk-N, shared/ or"
                            + " taskowned/ inside a job directory, or <32-hex job id>/chk-N inside a checkpoint root)");
            return 2;
        }
        if (isJobDir
                && (root.getParent() == null
                        || !SweepPlanner.JOB_ID.matcher(root.getName()).matches())) {
            err.println(
                    "cleanup: refusing "
                            + root
                            + ": a job directory is named by its 32-hex job id (Flink's"
                            + " layout <root>/<job-id>/chk-N); give that directory or the checkpoint root");
            return 2;
        }
        Path scanned = isJobDir ? root.getParent() : root;
        List<Path> roots = new ArrayList<>();
        roots.add(scanned);
        options.honourRoots().forEach(h -> roots.add(new Path(h)));

        SweepPlanner planner = new SweepPlanner(store);
        SweepPlanner.Rules rules =
                SweepPlanner.Rules.offline(grace.toMillis(), now, options.retain());
        int kept = rules.keptCheckpoints();
        CheckpointIndex index =
                planner.index(
                        roots,
                        job -> kept,
                        rules,
                        CheckpointIndex.MetadataReader.uncached(
                                CleanupCommand.class.getClassLoader()));
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
                if (options.keepJobs() >= 0 && i >= options.keepJobs()) {
                    plan.merge(
                            planner.planWholeJob(
                                    index,
                                    job,
                                    rules,
                                    "job "
                                            + job.id()
                                            + " is not among the newest "
                                            + options.keepJobs()
                                            + " jobs"));
                } else {
                    plan.merge(planner.planJob(index, job, rules));
                }
            }
        }
        print(plan, root, grace, now, options.execute(), out);
        if (options.execute() && plan.errors().isEmpty()) {
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
            if (!result.failed().isEmpty()) {
                return 1;
            }
        } else if (options.execute()) {
            out.println(
                    "Nothing was deleted: some checkpoint metadata could not be read (see NOT SWEPT above).");
        } else {
            out.println(
                    "Dry run: nothing was deleted. Run again with --execute to delete the files above.");
        }
        return plan.errors().isEmpty() ? 0 : 1;
    }

    private static boolean isCheckpointPart(String name) {
        return SweepPlanner.CHECKPOINT_DIR.matcher(name).matches()
                || name.equals("shared")
                || name.equals("taskowned");
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

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    private static int atLeastOne(String option, String value, String why) {
        int n;
        try {
            n = Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    option + " needs a number of 1 or more, got '" + value + "'");
        }
        if (n < 1) {
            throw new IllegalArgumentException(
                    option + " needs a number of 1 or more, got '" + value + "': " + why);
        }
        return n;
    }
}
