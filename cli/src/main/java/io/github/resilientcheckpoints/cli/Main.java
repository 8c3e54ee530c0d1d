package io.github.resilientcheckpoints.cli;

import io.github.resilientcheckpoints.cli.cleanup.CleanupCommand;
import io.github.resilientcheckpoints.cli.doctor.DoctorCommand;
import java.io.PrintStream;
import java.util.Arrays;

/**
 * The process entry point of the operator jar: {@code cleanup} and {@code doctor}, each with {@code
 * --help}. The command lines live here; the cleanup engine they drive is core's ({@code
 * OfflineCleanup}), the same the TaskManagers' janitor uses.
 */
public final class Main {

    static final String USAGE =
            "usage: java -jar resilient-checkpoint-storage-cli.jar <command> [args]\n"
                    + "commands:\n"
                    + "  cleanup <checkpoint-root-or-job-dir> ...  plan (and with --execute, delete) orphaned checkpoint files\n"
                    + "  doctor check [-Dkey=value ...] [conf dir] preflight: configuration, store, spill disks, jar placement\n"
                    + "  doctor diagnose <rest-url> [job-id]       why checkpoints of a running job fail or are slow\n"
                    + "<command> --help prints the command's options.";

    private Main() {}

    public static void main(String[] args) throws Exception {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs one command; returns its exit code (2 for bad usage). */
    public static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        if (args.length == 0) {
            err.println(USAGE);
            return 2;
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        switch (args[0]) {
            case "--help":
            case "-h":
            case "help":
                out.println(USAGE);
                return 0;
            case "cleanup":
                if (Arrays.asList(rest).contains("--help")) {
                    out.println(CleanupCommand.USAGE);
                    return 0;
                }
                return CleanupCommand.run(rest, out, err);
            case "doctor":
                return DoctorCommand.run(rest, out, err);
            default:
                err.println("unknown command '" + args[0] + "'");
                err.println(USAGE);
                return 2;
        }
    }
}
