package io.github.resilientcheckpoints.cleanup;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

/**
 * A small file in a job directory that names the checkpoint or savepoint the job was started from:
 * {@code <root>/<job-id>/_restored_from}, one line, the restored location's external pointer.
 *
 * <p>Flink's JobManager asks the job's checkpoint storage to resolve that pointer when it restores
 * a job ({@code CheckpointCoordinator.restoreSavepoint}); this storage writes the marker there. In
 * NO_CLAIM mode (Flink's default) the restored checkpoint is referenced by no {@code _metadata} of
 * the new job, yet the new job falls back to it until its own first checkpoint is committed; the
 * marker is how cleanup knows. Flink never reads the file, and restores do not depend on it.
 */
public final class RestoreMarker {

    private RestoreMarker() {}

    /** Writes (or replaces) the marker of the job directory. */
    public static void write(Path jobDirectory, String restoredPointer) throws IOException {
        Path marker = new Path(jobDirectory, CheckpointLayout.RESTORE_MARKER);
        FileSystem fs = FileSystem.get(marker.toUri());
        try (FSDataOutputStream out = fs.create(marker, FileSystem.WriteMode.OVERWRITE)) {
            out.write((restoredPointer + "\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The pointer a marker names. */
    public static String read(Path marker) throws IOException {
        String text = CheckpointLayout.readSmallFile(marker).trim();
        if (text.isEmpty()) {
            throw new IOException("empty restore marker");
        }
        return text.lines().findFirst().orElseThrow().trim();
    }

    /** The checkpoint directory of a pointer ({@code .../chk-N} or {@code .../chk-N/_metadata}). */
    static Path checkpointDirectory(String pointer) {
        Path p = new Path(pointer);
        return CheckpointLayout.METADATA.equals(p.getName()) ? p.getParent() : p;
    }
}
