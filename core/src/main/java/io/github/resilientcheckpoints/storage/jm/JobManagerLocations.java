package io.github.resilientcheckpoints.storage.jm;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.net.URI;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;

/**
 * Turns Flink's JobManager-side locations into ones whose {@code _metadata} is written by {@link
 * MetadataWriter} and whose deletes are retried ({@link LocationDeletes}); creates them with
 * retries. The deadline of a location is fixed when it is created (the checkpoint's trigger): the
 * checkpoint timeout times the deadline fraction from then.
 *
 * <p>{@code _metadata} under the checkpoint root goes through the same store as the TaskManagers'
 * state; a savepoint in another file system or bucket through a store for that root.
 */
public final class JobManagerLocations {

    /** Metadata beyond this many bytes is written through Flink's own stream, not buffered. */
    public static final int DEFAULT_MAX_BUFFERED_BYTES = 64 << 20;

    /**
     * The store for a root, from the runtime that owns and keys them (by every store setting, so a
     * savepoint target outside the checkpoint root never gets another job's client).
     */
    public interface StoreSource {
        CheckpointStore store(URI root) throws IOException;
    }

    private final URI checkpointRoot;
    private final StoreSource stores;
    private final Executor attempts;
    private final Executor deletes;
    private final RetryPolicy policy;
    private final Ticker ticker;
    private final StorageMetrics metrics;
    private final Redactor redactor;
    private final long budgetNanos;
    private final long maxBlockingNanos;

    /**
     * @param attempts runs the attempts of metadata writes, directory creations and deletes
     *     (threads owned by the runtime)
     * @param deletes runs the deletes of aborted locations (threads owned by the runtime)
     * @param maxBlockingNanos longest a directory creation or a {@code _metadata} write may hold
     *     the Flink thread that calls it, retries included
     */
    public JobManagerLocations(
            URI checkpointRoot,
            StoreSource stores,
            Executor attempts,
            Executor deletes,
            RetryPolicy policy,
            Ticker ticker,
            StorageMetrics metrics,
            Redactor redactor,
            long budgetNanos,
            long maxBlockingNanos) {
        this.checkpointRoot = checkpointRoot;
        this.maxBlockingNanos = maxBlockingNanos;
        this.stores = stores;
        this.attempts = attempts;
        this.deletes = deletes;
        this.policy = policy;
        this.ticker = ticker;
        this.metrics = metrics;
        this.redactor = redactor;
        this.budgetNanos = budgetNanos;
    }

    /** Flink's call that creates a location (and its directory). */
    @FunctionalInterface
    public interface LocationFactory {
        CheckpointStorageLocation create() throws IOException;
    }

    /**
     * Creates a checkpoint or savepoint location with Flink's own call, retried when the store
     * fails (each attempt is Flink's {@code mkdirs}, which is idempotent), and wraps it. The
     * deadline of the location starts now (the checkpoint's trigger) and bounds both the directory
     * and the {@code _metadata}: a store that keeps failing fails this checkpoint, never the
     * coordinator.
     *
     * @param what for logs and errors, e.g. "create checkpoint directory"
     * @param directory the directory created, or the one it is created under (savepoints)
     */
    public CheckpointStorageLocation initialize(String what, Path directory, LocationFactory flink)
            throws IOException {
        long start = ticker.nanoTime();
        StoreRetries retries = retries(storeFor(directory.toUri()));
        StoreRetries.Operation op =
                new StoreRetries.Operation(
                        what,
                        directory.toString(),
                        metrics::directoryCreateAttemptStarted,
                        metrics::directoryCreated,
                        metrics::directoryCreateFailed);
        CheckpointStorageLocation location =
                // On Flink's "Checkpoint Timer" thread: bounded like the metadata write.
                retries.call(
                        op,
                        attempt -> flink.create(),
                        Math.min(deadline(start), blockingBound(start)));
        return wrap(location, start);
    }

    /**
     * Wraps a location Flink just created; anything but Flink's file system location is returned as
     * is.
     */
    public CheckpointStorageLocation wrap(CheckpointStorageLocation location) throws IOException {
        return wrap(location, ticker.nanoTime());
    }

    private CheckpointStorageLocation wrap(CheckpointStorageLocation location, long start)
            throws IOException {
        if (!(location instanceof FsCheckpointStorageLocation)) {
            return location;
        }
        FsCheckpointStorageLocation flink = (FsCheckpointStorageLocation) location;
        StoreRetries retries = retries(storeFor(flink.getMetadataFilePath().toUri()));
        return new JobManagerLocation(
                flink,
                new MetadataWriter(retries, metrics, maxBlockingNanos),
                deadline(start),
                DEFAULT_MAX_BUFFERED_BYTES,
                new LocationDeletes(retries, metrics, redactor, budgetNanos, deletes));
    }

    private long blockingBound(long start) {
        long bound = start + maxBlockingNanos;
        return bound < start ? Long.MAX_VALUE : bound;
    }

    private long deadline(long start) {
        long deadline = start + budgetNanos;
        return deadline < start ? Long.MAX_VALUE : deadline;
    }

    private StoreRetries retries(CheckpointStore store) {
        return new StoreRetries(
                store,
                policy,
                ticker,
                Sleeper.SYSTEM,
                () -> ThreadLocalRandom.current().nextDouble(),
                redactor,
                attempts);
    }

    private CheckpointStore storeFor(URI target) throws IOException {
        if (sameRoot(target, checkpointRoot)) {
            return stores.store(checkpointRoot);
        }
        return stores.store(
                URI.create(
                        scheme(target)
                                + "://"
                                + Objects.toString(target.getAuthority(), "")
                                + "/"));
    }

    private static boolean sameRoot(URI a, URI b) {
        return scheme(a).equals(scheme(b)) && Objects.equals(a.getAuthority(), b.getAuthority());
    }

    private static String scheme(URI uri) {
        return uri.getScheme() == null ? "file" : uri.getScheme().toLowerCase(Locale.ROOT);
    }
}
