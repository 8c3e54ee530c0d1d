package io.github.resilientcheckpoints.store;

import java.io.IOException;
import org.apache.flink.core.fs.Path;

/** The upload role of a {@link CheckpointStore}. */
public interface StateUploader {

    /**
     * Writes all bytes of {@code source} to a new object at {@code target} and returns only when
     * they are durable in the store.
     *
     * <ul>
     *   <li>{@code target} is a fresh name: the caller never uploads twice to the same path, so an
     *       abandoned attempt can never overwrite a later, successful one.
     *   <li>The returned path is where the bytes really are. It differs from {@code target} only
     *       when the store rewrites paths (Flink's entropy injection); the state handle must carry
     *       it.
     *   <li>On failure nothing readable may be left at the returned path; implementations delete
     *       what they wrote where they can, and the caller deletes {@code target} once more anyway.
     *   <li>Implementations do not retry on their own: the caller owns retries (and the deadline).
     *       An interrupt aborts the attempt with {@link java.io.InterruptedIOException}.
     * </ul>
     */
    Path upload(UploadSource source, Path target) throws IOException;

    /**
     * Where an upload to {@code target} writes, decided before anything is written: {@code target}
     * itself, or, for stores that rewrite paths (Flink's entropy injection), the rewritten path.
     * The caller uploads to the result, which such a store then leaves as it is, and so knows what
     * to delete when it abandons the attempt, even if the attempt never returns.
     */
    default Path resolveTarget(Path target) throws IOException {
        return target;
    }
}
