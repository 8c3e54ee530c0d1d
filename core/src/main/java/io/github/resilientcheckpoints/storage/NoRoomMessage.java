package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.spill.SpillSpace;
import org.apache.flink.core.fs.Path;

/** Why a state stream cannot stage its bytes locally, and what the operator can do about it. */
final class NoRoomMessage {

    private NoRoomMessage() {}

    static String of(
            Path targetDirectory, String reason, boolean memoryExhausted, SpillSpace space) {
        StringBuilder sb =
                new StringBuilder("Cannot stage checkpoint state for ")
                        .append(targetDirectory)
                        .append(" locally: ")
                        .append(reason)
                        .append(". Spill directories: ")
                        .append(space.describe())
                        .append('.');
        if (memoryExhausted) {
            sb.append(" Memory fallback: ")
                    .append(space.memoryBudget().used())
                    .append(" of ")
                    .append(space.memoryBudget().capacity())
                    .append(" bytes in use ('")
                    .append(ResilientCheckpointOptions.SPILL_FALLBACK_MEMORY_BUDGET.key())
                    .append("').");
        } else {
            sb.append(" Fallback policy is 'fail' ('")
                    .append(ResilientCheckpointOptions.SPILL_FALLBACK.key())
                    .append("').");
        }
        sb.append(" Free disk space, add directories to '")
                .append(ResilientCheckpointOptions.SPILL_DIRECTORIES.key())
                .append("', or adjust '")
                .append(ResilientCheckpointOptions.SPILL_FLOOR.key())
                .append("' / '")
                .append(ResilientCheckpointOptions.SPILL_QUOTA.key())
                .append("'. The task keeps running; this checkpoint fails.");
        return sb.toString();
    }
}
