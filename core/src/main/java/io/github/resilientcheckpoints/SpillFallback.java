package io.github.resilientcheckpoints;

/**
 * What a stream does when no spill directory can take its next chunk: the values of {@link
 * ResilientCheckpointOptions#SPILL_FALLBACK}.
 */
public enum SpillFallback {
    /** Keep the rest of the stream in memory, within a per-TaskManager budget; fail beyond it. */
    MEMORY,
    /** Fail the stream (and so the checkpoint) at once with a message naming every directory. */
    FAIL
}
