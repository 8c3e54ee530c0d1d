package io.github.resilientcheckpoints.cleanup;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

/**
 * Flink's checkpoint directory layout, as cleanup reads it: {@code
 * <root>/<job-id>/chk-N/_metadata}, {@code <root>/<job-id>/shared/}, {@code
 * <root>/<job-id>/taskowned/}, plus this storage's restore marker {@code
 * <root>/<job-id>/_restored_from}. Anything else inside a job directory (savepoints, unknown files)
 * is never cleanup's to judge. Every cleanup class names these parts through here.
 */
public final class CheckpointLayout {

    /** A job directory's name: the 32 lower-case hex digits of the job id. */
    static final Pattern JOB_ID = Pattern.compile("[0-9a-f]{32}");

    /** A checkpoint's directory inside its job directory; group 1 is the checkpoint id. */
    static final Pattern CHECKPOINT_DIR = Pattern.compile("chk-(\\d+)");

    /** The file that makes a directory a completed checkpoint (or a savepoint). */
    public static final String METADATA = "_metadata";

    /** Files shared by several checkpoints of a job (incremental state). */
    static final String SHARED = "shared";

    /** Files owned by the TaskManagers rather than by a checkpoint. */
    static final String TASK_OWNED = "taskowned";

    /** The restore marker's name inside a job directory ({@link RestoreMarker}). */
    public static final String RESTORE_MARKER = "_restored_from";

    /** Small files (markers) are read up to this many bytes. */
    private static final int SMALL_FILE_BYTES = 64 * 1024;

    private CheckpointLayout() {}

    static boolean isJobId(String name) {
        return JOB_ID.matcher(name).matches();
    }

    static boolean isCheckpointDir(String name) {
        return CHECKPOINT_DIR.matcher(name).matches();
    }

    /** The id of a {@code chk-N} directory name, or -1 for any other name. */
    static long checkpointId(String name) {
        Matcher m = CHECKPOINT_DIR.matcher(name);
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /** {@code shared} or {@code taskowned}: files not tied to one checkpoint's directory. */
    static boolean isSharedDir(String name) {
        return name.equals(SHARED) || name.equals(TASK_OWNED);
    }

    /** A top-level entry of a job directory that cleanup may sweep: chk-N, shared or taskowned. */
    static boolean isCheckpointPart(String name) {
        return isCheckpointDir(name) || isSharedDir(name);
    }

    /** The first 64 KiB of a small file (a restore marker), as UTF-8. */
    static String readSmallFile(Path p) throws IOException {
        FileSystem fs = Locations.fileSystem(p);
        try (FSDataInputStream in = fs.open(Locations.onFileSystem(p, fs))) {
            return new String(in.readNBytes(SMALL_FILE_BYTES), StandardCharsets.UTF_8);
        }
    }
}
