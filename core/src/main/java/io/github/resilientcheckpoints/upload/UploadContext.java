package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The services every upload of one store uses: the store, the throttle, the upload threads, the
 * discard executor (aborts and deletes of what nobody owns, never on a caller's thread, which Flink
 * may have interrupted), the counters, the clock and the redactor.
 */
public record UploadContext(
        CheckpointStore store,
        UploadThrottle throttle,
        Executor executor,
        Executor discardExecutor,
        StorageMetrics metrics,
        Ticker ticker,
        Redactor redactor) {

    private static final Logger LOG = LoggerFactory.getLogger(UploadContext.class);

    /** The class of {@code failure}: the store's answer, or the generic one if it has none. */
    public FailureClass classify(Throwable failure) {
        if (failure instanceof UploadThrottle.ThrottleTimeoutException) {
            return FailureClass.TRANSIENT;
        }
        try {
            return store.classify(failure);
        } catch (RuntimeException e) {
            return GenericFailureClassifier.classify(failure);
        }
    }

    /**
     * The source as the store should read it: bandwidth taken from the throttle, chunk by chunk.
     */
    public UploadSource throttled(UploadSource source, UploadDeadline deadline) {
        return new ThrottledSource(source, throttle, deadline);
    }

    /**
     * Runs discard work (an abort, a delete of what nobody owns) on the discard executor, never on
     * the caller's thread; failures are logged. Runs it here only if the executor refuses it (shut
     * down).
     */
    public void discardInBackground(String what, Runnable task) {
        Runnable logged =
                () -> {
                    try {
                        task.run();
                    } catch (RuntimeException e) {
                        LOG.warn("Discard failed ({}): {}", what, redactor.describe(e));
                    }
                };
        try {
            discardExecutor.execute(logged);
        } catch (RejectedExecutionException e) {
            logged.run();
        }
    }

    /** Deletes a remote file nobody owns (a discarded stream's upload), on the discard executor. */
    public void discard(Path path) {
        discardInBackground("delete of " + path, () -> deleteQuietly(path));
    }

    private void deleteQuietly(Path path) {
        try {
            store.delete(path);
        } catch (IOException | RuntimeException e) {
            LOG.warn(
                    "Could not delete discarded checkpoint file {}: {}",
                    redactor.redact(path.toString()),
                    redactor.describe(e));
        }
    }
}
