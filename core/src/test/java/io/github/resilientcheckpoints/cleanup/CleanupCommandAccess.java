package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.store.CheckpointStore;

import org.apache.flink.core.fs.Path;

import java.io.PrintStream;
import java.time.Duration;

/** Runs the cleanup command against a given store, as the command line does, for tests. */
public final class CleanupCommandAccess {

    private CleanupCommandAccess() {}

    /** Extra options: {@code --older-than d}, {@code --retain n}, {@code --keep-jobs n}. */
    public static int run(CheckpointStore store, java.nio.file.Path dir, boolean execute, String[] extra,
            PrintStream out, PrintStream err) throws Exception {
        return run(store, dir.toString(), execute, extra, out, err);
    }

    public static int run(CheckpointStore store, String dir, boolean execute, String[] extra,
            PrintStream out, PrintStream err) throws Exception {
        Duration grace = Duration.ofHours(1);
        int retain = Integer.MAX_VALUE;
        int keepJobs = -1;
        for (int i = 0; i < extra.length; i++) {
            switch (extra[i]) {
                case "--older-than" -> grace = org.apache.flink.util.TimeUtils.parseDuration(extra[++i]);
                case "--retain" -> retain = Integer.parseInt(extra[++i]);
                case "--keep-jobs" -> keepJobs = Integer.parseInt(extra[++i]);
                default -> throw new IllegalArgumentException(extra[i]);
            }
        }
        try {
            SweepPlanner.checkNoDotDot(dir);
        } catch (IllegalArgumentException e) {
            err.println("cleanup: " + e.getMessage());
            return 2;
        }
        Path path = new Path(dir);
        return CleanupCommand.run(store, path, execute, grace, retain, keepJobs, System.currentTimeMillis(), out, err);
    }
}
