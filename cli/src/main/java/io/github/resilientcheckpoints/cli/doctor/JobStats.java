package io.github.resilientcheckpoints.cli.doctor;

import java.util.List;
import java.util.Map;

/**
 * What {@code doctor diagnose} knows about one job: its checkpoint configuration, the checkpoints
 * in Flink's history (oldest first) with per-subtask numbers, and our counters summed over the
 * TaskManagers (empty when they are not published: file merging off, or no upload yet).
 *
 * @param timeoutMs {@code execution.checkpointing.timeout}
 * @param intervalMs {@code execution.checkpointing.interval}
 * @param unaligned whether unaligned checkpoints are on
 */
public record JobStats(
        String jobId,
        String name,
        String state,
        long timeoutMs,
        long intervalMs,
        boolean unaligned,
        List<Checkpoint> checkpoints,
        Map<String, Long> counters) {

    /**
     * One checkpoint of the history.
     *
     * @param status COMPLETED, FAILED or IN_PROGRESS
     * @param endToEndMs trigger to last acknowledgement (completed) or to failure (failed)
     * @param stateSize full size of the state it references
     * @param checkpointedSize bytes this checkpoint wrote (less than the state size when
     *     incremental)
     * @param failureMessage Flink's failure message, null unless failed
     * @param externalPath where a completed checkpoint's _metadata is, else null
     */
    public record Checkpoint(
            long id,
            String status,
            boolean savepoint,
            long endToEndMs,
            long stateSize,
            long checkpointedSize,
            String failureMessage,
            String externalPath,
            List<Vertex> vertices) {

        public boolean failed() {
            return "FAILED".equals(status);
        }

        public boolean completed() {
            return "COMPLETED".equals(status);
        }
    }

    /** One job vertex's subtasks in one checkpoint. */
    public record Vertex(String id, String name, List<Subtask> subtasks) {}

    /**
     * One subtask's part of a checkpoint; the durations are zero when it did not acknowledge.
     *
     * @param startDelayMs trigger until the first barrier reached the subtask
     * @param alignmentMs first to last barrier (aligned checkpoints)
     * @param syncMs the synchronous snapshot on the task thread
     * @param asyncMs the asynchronous part: writing the state to the store
     */
    public record Subtask(
            int index,
            boolean acknowledged,
            long endToEndMs,
            long startDelayMs,
            long alignmentMs,
            long syncMs,
            long asyncMs,
            long checkpointedSize) {

        public long barrierMs() {
            return startDelayMs + alignmentMs;
        }
    }

    /** The newest completed checkpoint's external path, or null. */
    public String lastCompletedPath() {
        String path = null;
        for (Checkpoint c : checkpoints) {
            if (c.completed() && c.externalPath() != null) {
                path = c.externalPath();
            }
        }
        return path;
    }

    public long counter(String name) {
        return counters.getOrDefault(name, 0L);
    }
}
