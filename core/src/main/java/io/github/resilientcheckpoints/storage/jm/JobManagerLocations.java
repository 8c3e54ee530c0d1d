package io.github.resilientcheckpoints.storage.jm;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.Sleeper;
import io.github.resilientcheckpoints.upload.Ticker;

import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;

import java.io.IOException;
import java.net.URI;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Turns Flink's JobManager-side locations into ones whose {@code _metadata} is written by {@link
 * MetadataWriter}. The deadline of a location is fixed when it is created (the checkpoint's
 * trigger): the checkpoint timeout times the deadline fraction from then.
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
    private final RetryPolicy policy;
    private final Ticker ticker;
    private final StorageMetrics metrics;
    private final Redactor redactor;
    private final long budgetNanos;

    /** @param attempts runs metadata write attempts (threads owned by the runtime) */
    public JobManagerLocations(URI checkpointRoot, StoreSource stores, Executor attempts,
            RetryPolicy policy, Ticker ticker, StorageMetrics metrics, Redactor redactor, long budgetNanos) {
        this.checkpointRoot = checkpointRoot;
        this.stores = stores;
        this.attempts = attempts;
        this.policy = policy;
        this.ticker = ticker;
        this.metrics = metrics;
        this.redactor = redactor;
        this.budgetNanos = budgetNanos;
    }

    /** Wraps a location Flink just created; anything but Flink's file system location is returned as is. */
    public CheckpointStorageLocation wrap(CheckpointStorageLocation location) throws IOException {
        long start = ticker.nanoTime();
        if (!(location instanceof FsCheckpointStorageLocation)) {
            return location;
        }
        FsCheckpointStorageLocation flink = (FsCheckpointStorageLocation) location;
        long deadline = start + budgetNanos;
        if (deadline < start) {
            deadline = Long.MAX_VALUE;
        }
        CheckpointStore store = storeFor(flink.getMetadataFilePath().toUri());
        MetadataWriter writer = new MetadataWriter(store, policy, ticker, Sleeper.SYSTEM,
                () -> ThreadLocalRandom.current().nextDouble(), metrics, redactor, attempts);
        return new JobManagerLocation(flink, writer, deadline, DEFAULT_MAX_BUFFERED_BYTES);
    }

    private CheckpointStore storeFor(URI target) throws IOException {
        if (sameRoot(target, checkpointRoot)) {
            return stores.store(checkpointRoot);
        }
        return stores.store(URI.create(scheme(target) + "://" + Objects.toString(target.getAuthority(), "") + "/"));
    }

    private static boolean sameRoot(URI a, URI b) {
        return scheme(a).equals(scheme(b)) && Objects.equals(a.getAuthority(), b.getAuthority());
    }

    private static String scheme(URI uri) {
        return uri.getScheme() == null ? "file" : uri.getScheme().toLowerCase(java.util.Locale.ROOT);
    }
}
