package io.github.resilientcheckpoints.cli.cleanup;

import io.github.resilientcheckpoints.cleanup.CleanupSettings;
import io.github.resilientcheckpoints.cleanup.OfflineCleanup;
import io.github.resilientcheckpoints.cli.FlinkFileSystems;
import io.github.resilientcheckpoints.storage.InstallLayout;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import java.io.PrintStream;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.util.TimeUtils;

/**
 * The {@code cleanup} command line:
 *
 * <pre>
 * cleanup &lt;checkpoint-root-or-job-dir&gt; [--execute] [--older-than 2 h] [--retain N] [--keep-jobs N]
 *         [--honour-root DIR ...] [--allow-grace-below-timeout] [-Dkey=value ...]
 * </pre>
 *
 * The sweep itself is core's {@link OfflineCleanup}; this class parses the arguments, refuses a
 * grace shorter than the checkpoint timeout unless asked, and turns the outcome into an exit code.
 * Flink's configuration comes from {@code FLINK_CONF_DIR} and {@code -D} options; file system
 * plugins from {@code FLINK_PLUGINS_DIR}, else {@code FLINK_HOME/plugins}, else next to {@code
 * FLINK_CONF_DIR} ({@link InstallLayout#pluginsDir}).
 */
public final class CleanupCommand {

    /** One line per option. */
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
            return olderThan != null
                    ? olderThan
                    : CleanupSettings.defaultGrace(
                            conf.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT));
        }

        OfflineCleanup.Request request() {
            OfflineCleanup.Request request =
                    OfflineCleanup.Request.dryRun(dir, grace())
                            .retaining(retain)
                            .keepingJobs(keepJobs)
                            .executing(execute);
            for (String root : honourRoots) {
                request = request.honouring(root);
            }
            return request;
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
                honour.add(value(args, ++i, a));
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
        String confDir = System.getenv("FLINK_CONF_DIR");
        Configuration conf =
                confDir != null
                        ? GlobalConfiguration.loadConfiguration(confDir)
                        : new Configuration();
        Parsed parsed = parseOrExplain(args, conf, err);
        if (parsed == null) {
            return 2;
        }
        FlinkFileSystems.initialize(
                conf,
                InstallLayout.pluginsDir(
                        System.getenv(), confDir == null ? null : Paths.get(confDir)));
        try (CheckpointStore store =
                CheckpointStores.forRoot(parsed.request().dir().toUri(), conf)) {
            return run(
                    parsed.options(),
                    parsed.request(),
                    store,
                    System.currentTimeMillis(),
                    out,
                    err);
        }
    }

    /** Runs the command line against a given store. */
    static int run(
            String[] args,
            Configuration conf,
            CheckpointStore store,
            long now,
            PrintStream out,
            PrintStream err)
            throws Exception {
        Parsed parsed = parseOrExplain(args, conf, err);
        if (parsed == null) {
            return 2;
        }
        return run(parsed.options(), parsed.request(), store, now, out, err);
    }

    /** A command line and the request it makes. */
    private record Parsed(Options options, OfflineCleanup.Request request) {}

    /** The parsed command line, or null once the error and the usage are printed to {@code err}. */
    private static Parsed parseOrExplain(String[] args, Configuration conf, PrintStream err) {
        try {
            Options options = parse(args, conf);
            return new Parsed(options, options.request());
        } catch (RuntimeException e) {
            err.println("cleanup: " + e.getMessage());
            err.println(USAGE);
            return null;
        }
    }

    private static int run(
            Options options,
            OfflineCleanup.Request request,
            CheckpointStore store,
            long now,
            PrintStream out,
            PrintStream err)
            throws Exception {
        Duration grace = request.grace();
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
                                + request.dir()
                                + " any more.");
                return 2;
            }
            err.println(
                    "cleanup: WARNING: "
                            + what
                            + "; going ahead because of --allow-grace-below-timeout.");
        }
        OfflineCleanup.Report report;
        try {
            report = OfflineCleanup.run(request, store, now, out);
        } catch (IllegalArgumentException e) {
            err.println("cleanup: " + e.getMessage());
            return 2;
        }
        return report.complete() ? 0 : 1;
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
