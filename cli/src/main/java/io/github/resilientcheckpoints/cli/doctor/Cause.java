package io.github.resilientcheckpoints.cli.doctor;

/**
 * A likely cause named by {@code doctor diagnose}, with the numbers that point to it and one
 * change.
 *
 * @param checkpointId the checkpoint it explains, or -1 for a finding about the whole history
 * @param failing whether it explains a failed checkpoint (the command then exits non-zero)
 * @param evidence the measured numbers or the failure message
 * @param fix one suggested change, a config key and value where there is one
 */
public record Cause(Kind kind, long checkpointId, boolean failing, String evidence, String fix) {

    /** The causes the rules know, as named in the report. */
    public enum Kind {
        /** The store refuses writes: permissions, a missing bucket or directory. */
        STORE_REFUSING("store-refusing"),
        /** No local disk room to stage state. */
        LOCAL_DISK("local-disk"),
        /** Uploads (the async phase) take the time: a slow or throttling store. */
        STORE_SLOW("store-slow"),
        /** Barriers arrive late: backpressure, or one subtask far behind (skew). */
        BARRIER_DELAY("barrier-delay"),
        /** The synchronous snapshot on the task thread takes the time: CPU or memory pressure. */
        SNAPSHOT_SLOW("snapshot-slow"),
        /** The checkpoints need longer than the timeout allows, with no phase out of line. */
        TIMEOUT_TOO_SHORT("timeout-too-short"),
        /** The state grows with every checkpoint. */
        STATE_GROWTH("state-growth"),
        /** Failed or slow, and none of the rules applies; the evidence shows what is known. */
        UNEXPLAINED("unexplained");

        private final String label;

        Kind(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }
}
