package io.github.resilientcheckpoints.upload;

import java.util.concurrent.CompletableFuture;

/**
 * Lets another thread abandon an upload: {@code CheckpointStateOutputStream.close()} is called by
 * Flink from a canceller thread while the task's async thread may be inside {@code
 * closeAndGetHandle()}. Cancelling wakes the retry loop out of a wait or an attempt at once; the
 * abandoned attempt is interrupted and its file deleted when it ends.
 */
public final class UploadCancellation {

    private final CompletableFuture<Void> signal = new CompletableFuture<>();

    public void cancel() {
        signal.complete(null);
    }

    public boolean isCancelled() {
        return signal.isDone();
    }

    /** Completes when cancelled; never completes otherwise. */
    public CompletableFuture<Void> signal() {
        return signal;
    }
}
