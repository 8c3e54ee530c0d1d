package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.cli.FlinkFileSystems;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.storage.InstallLayout;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.CodeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.util.TimeUtils;

/** {@code doctor check} and {@code doctor diagnose}: argument handling, output and exit codes. */
public final class DoctorCommand {

    public static final String USAGE =
            "usage: doctor check [-D<key>=<value> ...] [<conf dir>] [--json]\n"
                    + "       doctor diagnose <rest-url> [<job-id>] [--slow <duration>] [--json]\n"
                    + "  check     preflight: our keys and the Flink keys we depend on, the checkpoint root (write, read\n"
                    + "            back, delete a probe with the configured credentials), each spill directory's free\n"
                    + "            space against floor and quota, the jar's place (lib/ vs plugins/), the Flink version.\n"
                    + "            Configuration: <conf dir>/config.yaml (default $FLINK_CONF_DIR) plus -D options;\n"
                    + "            lib/ of $FLINK_HOME, else of the conf dir's parent; plugins/ likewise unless\n"
                    + "            $FLINK_PLUGINS_DIR is set.\n"
                    + "  diagnose  reads the job's checkpoint history, per-subtask numbers and our counters from Flink's\n"
                    + "            REST API (e.g. http://jobmanager:8081) and names the likely cause of every failed or\n"
                    + "            slow checkpoint with its numbers and one change. <job-id>: default the running job.\n"
                    + "            --slow: completed checkpoints this long count as slow (default: half the timeout)\n"
                    + "  --json    one JSON document instead of text\n"
                    + "exit: 0 nothing failing, 1 a FAIL finding or a failed checkpoint, 2 bad usage or unreachable";

    private DoctorCommand() {}

    /** Runs {@code doctor <args>} with the process environment given as {@code env}. */
    public static int run(
            String[] args, PrintStream out, PrintStream err, Map<String, String> env) {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h")) {
            (args.length == 0 ? err : out).println(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        List<String> rest = List.of(args).subList(1, args.length);
        if (rest.contains("--help")) {
            out.println(USAGE);
            return 0;
        }
        try {
            switch (args[0]) {
                case "check":
                    return check(rest, out, env);
                case "diagnose":
                    return diagnose(rest, out);
                default:
                    throw new IllegalArgumentException("unknown doctor command '" + args[0] + "'");
            }
        } catch (IllegalArgumentException e) {
            err.println("doctor: " + e.getMessage());
            err.println(USAGE);
            return 2;
        } catch (Exception e) {
            err.println("doctor: " + e.getMessage());
            return 2;
        }
    }

    /** Runs {@code doctor <args>} in this process's environment. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, out, err, System.getenv());
    }

    private static int check(List<String> args, PrintStream out, Map<String, String> env)
            throws IOException {
        Configuration dynamic = new Configuration();
        String confDir = null;
        boolean json = false;
        for (String a : args) {
            if (a.equals("--json")) {
                json = true;
            } else if (a.startsWith("-D") && a.contains("=")) {
                dynamic.setString(a.substring(2, a.indexOf('=')), a.substring(a.indexOf('=') + 1));
            } else if (!a.startsWith("-") && confDir == null) {
                confDir = a;
            } else {
                throw new IllegalArgumentException("unknown argument '" + a + "'");
            }
        }
        if (confDir == null) {
            confDir = env.get("FLINK_CONF_DIR");
        }
        List<Finding> findings = new ArrayList<>();
        Configuration conf = dynamic;
        if (confDir != null) {
            try {
                conf = GlobalConfiguration.loadConfiguration(confDir, dynamic);
                findings.add(Finding.ok("conf-dir", "read " + Paths.get(confDir).toAbsolutePath()));
            } catch (RuntimeException e) {
                findings.add(
                        Finding.fail(
                                "conf-dir",
                                "cannot read the configuration in "
                                        + confDir
                                        + ": "
                                        + e.getMessage(),
                                "give the directory that holds Flink's config.yaml"));
                return printFindings(findings, json, out);
            }
        }
        Path confPath = confDir == null ? null : Paths.get(confDir);
        Path plugins = InstallLayout.pluginsDir(env, confPath);
        FlinkFileSystems.initialize(conf, plugins);
        findings.addAll(
                new Preflight(
                                conf,
                                InstallLayout.libDir(env, confPath),
                                plugins,
                                codeSource(),
                                FreeSpaceProbe.FILE_STORE)
                        .run());
        return printFindings(findings, json, out);
    }

    /**
     * Where the storage's classes are loaded from: the jar in lib/, the cli jar, or a classes dir.
     */
    static Path codeSource() {
        CodeSource source =
                ResilientCheckpointStorageFactory.class.getProtectionDomain().getCodeSource();
        try {
            return source == null
                    ? Paths.get("(unknown)")
                    : Paths.get(source.getLocation().toURI());
        } catch (URISyntaxException e) {
            return Paths.get(source.getLocation().getPath());
        }
    }

    private static int printFindings(List<Finding> findings, boolean json, PrintStream out) {
        boolean failing = findings.stream().anyMatch(f -> f.level() == Finding.Level.FAIL);
        if (json) {
            ObjectNode root = FlinkRest.JSON.createObjectNode();
            ArrayNode list = root.putArray("findings");
            for (Finding f : findings) {
                list.addObject()
                        .put("level", f.level().name())
                        .put("check", f.check())
                        .put("message", f.message())
                        .put("fix", f.fix());
            }
            root.put("failing", failing);
            out.println(root.toPrettyString());
        } else {
            findings.forEach(f -> out.println(f.line()));
            out.println(summary(findings));
        }
        return failing ? 1 : 0;
    }

    private static String summary(List<Finding> findings) {
        long ok = findings.stream().filter(f -> f.level() == Finding.Level.OK).count();
        long warn = findings.stream().filter(f -> f.level() == Finding.Level.WARN).count();
        long fail = findings.stream().filter(f -> f.level() == Finding.Level.FAIL).count();
        return ok + " OK, " + warn + " WARN, " + fail + " FAIL";
    }

    private static int diagnose(List<String> args, PrintStream out) throws Exception {
        String url = null;
        String job = null;
        Duration slow = null;
        boolean json = false;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--json")) {
                json = true;
            } else if (a.equals("--slow")) {
                if (i + 1 >= args.size()) {
                    throw new IllegalArgumentException("--slow needs a duration, e.g. '30 s'");
                }
                slow = TimeUtils.parseDuration(args.get(++i));
            } else if (!a.startsWith("-") && url == null) {
                url = a;
            } else if (!a.startsWith("-") && job == null) {
                job = a;
            } else {
                throw new IllegalArgumentException("unknown argument '" + a + "'");
            }
        }
        if (url == null) {
            throw new IllegalArgumentException("no REST URL given (e.g. http://jobmanager:8081)");
        }
        FlinkRest rest = new FlinkRest(url, Duration.ofSeconds(30));
        JobStats stats = rest.read(job != null ? job : rest.pickJob());
        Diagnosis diagnosis = new Diagnosis(slow);
        List<Cause> causes = diagnosis.causes(stats);
        DiagnoseReport report = new DiagnoseReport(stats, causes, diagnosis.slowThresholdMs(stats));
        out.println(json ? report.json() : report.text());
        return report.failing() ? 1 : 0;
    }
}
