package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.store.CheckpointStore;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.Configuration;

/**
 * Runs the cleanup command line against a given store, parsed exactly as the command does, for
 * tests.
 */
public final class CleanupCommandAccess {

    private CleanupCommandAccess() {}

    /**
     * Extra arguments as on the command line, e.g. {@code --older-than 2 h}, {@code --retain 1}.
     */
    public static int run(
            CheckpointStore store,
            Path dir,
            boolean execute,
            String[] extra,
            PrintStream out,
            PrintStream err)
            throws Exception {
        return run(store, dir.toString(), execute, extra, out, err);
    }

    public static int run(
            CheckpointStore store,
            String dir,
            boolean execute,
            String[] extra,
            PrintStream out,
            PrintStream err)
            throws Exception {
        return run(store, dir, execute, extra, new Configuration(), out, err);
    }

    public static int run(
            CheckpointStore store,
            String dir,
            boolean execute,
            String[] extra,
            Configuration conf,
            PrintStream out,
            PrintStream err)
            throws Exception {
        List<String> args = new ArrayList<>();
        args.add(dir);
        if (execute) {
            args.add("--execute");
        }
        args.addAll(List.of(extra));
        return CleanupCommand.run(
                args.toArray(String[]::new), conf, store, System.currentTimeMillis(), out, err);
    }
}
