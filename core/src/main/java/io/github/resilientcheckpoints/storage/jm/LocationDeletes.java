package io.github.resilientcheckpoints.storage.jm;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.Causes;
import io.github.resilientcheckpoints.upload.Redactor;
import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.util.Locale;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Retries the JobManager's deletes of checkpoint locations: what is deleted, and when, stays
 * exactly Flink's — each attempt is Flink's own call ({@code FsCheckpointStorageLocation
 * .disposeOnFailure}, {@code FsCompletedCheckpointStorageLocation.disposeStorageLocation}); only a
 * failed attempt is repeated, with the storage's retry policy and the store's classification,
 * within the storage's time budget counted from the start of the delete.
 */
final class LocationDeletes {

    private static final Logger LOG = LoggerFactory.getLogger(LocationDeletes.class);

    /** One attempt at Flink's own delete. */
    @FunctionalInterface
    interface FlinkDelete {
        void run() throws IOException;
    }

    private final StoreRetries retries;
    private final StorageMetrics metrics;
    private final Redactor redactor;
    private final long budgetNanos;
    private final Executor background;

    /**
     * @param background runs {@link #deleteLater} (the runtime's location-delete threads)
     */
    LocationDeletes(
            StoreRetries retries,
            StorageMetrics metrics,
            Redactor redactor,
            long budgetNanos,
            Executor background) {
        this.retries = retries;
        this.metrics = metrics;
        this.redactor = redactor;
        this.budgetNanos = budgetNanos;
        this.background = background;
    }

    /** Runs Flink's delete of {@code directory} with retries on the calling thread. */
    void delete(String what, Path directory, FlinkDelete flink) throws IOException {
        long start = retries.ticker().nanoTime();
        long deadline = start + budgetNanos < start ? Long.MAX_VALUE : start + budgetNanos;
        StoreRetries.Operation op =
                new StoreRetries.Operation(
                        what,
                        directory.toString(),
                        metrics::locationDeleteAttemptStarted,
                        metrics::locationDeleted,
                        metrics::locationDeleteFailed,
                        LocationDeletes::notEmpty);
        retries.call(
                op,
                attempt -> {
                    flink.run();
                    return null;
                },
                deadline);
    }

    /**
     * Flink deletes a completed checkpoint's directory non-recursively, after the state files in
     * it: if one of those deletes failed (Flink's own, not retried), the directory is not empty,
     * and repeating the delete cannot change that.
     */
    static boolean notEmpty(Throwable failure) {
        for (Throwable t : Causes.chain(failure)) {
            String type = t.getClass().getName();
            String message = Causes.message(t).toLowerCase(Locale.ROOT);
            if (t instanceof DirectoryNotEmptyException
                    || type.endsWith("PathIsNotEmptyDirectoryException")
                    || message.contains("is not empty")
                    || message.contains("is non empty")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Runs Flink's delete of {@code directory} with retries on a background thread and returns at
     * once; a delete that fails for good is logged once, with the path.
     */
    void deleteLater(String what, Path directory, FlinkDelete flink) {
        Runnable task =
                () -> {
                    try {
                        delete(what, directory, flink);
                    } catch (IOException | RuntimeException e) {
                        LOG.warn(
                                "{}; it stays until it is deleted by hand or by the janitor ('{}')",
                                redactor.describe(e),
                                ResilientCheckpointOptions.JANITOR_ENABLED.key());
                    }
                };
        try {
            background.execute(task);
        } catch (RejectedExecutionException closed) {
            LOG.warn(
                    "Could not {} {}: the storage runtime is closed; it stays until it is deleted by hand or by"
                            + " the janitor",
                    what,
                    redactor.redact(directory.toString()));
        }
    }
}
