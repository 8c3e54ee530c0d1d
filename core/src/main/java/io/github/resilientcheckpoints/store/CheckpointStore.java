package io.github.resilientcheckpoints.store;

import java.io.Closeable;
import java.util.Optional;

/**
 * The seam between the mechanisms (retry, spill, and later throttle and cleanup) and one kind of
 * remote store. It carries what a checkpoint upload needs and Flink's {@code FileSystem} cannot
 * express: a classification of failures for the retry loop. Reads never go through it: Flink
 * restores through its own {@code FileSystem} for the scheme, which keeps our checkpoints plain.
 *
 * <p>Implementations are thread safe; one instance serves every stream of a TaskManager.
 *
 * <p>Optional capabilities ({@link SupportsPartUploads}, {@link SupportsStreamingUpload}, {@link
 * SupportsSpillAdoption}, {@link SupportsListing}, {@link SupportsBatchDelete}, {@link
 * SupportsPendingUploads}, {@link SupportsThrottleSignals}, {@link SupportsRequestEvents}, {@link
 * SupportsExclusiveCreate}) are found with {@link #capability}, never with {@code instanceof}: a
 * wrapper (e.g. {@link FaultInjectingStore}) forwards the lookup to the store it wraps, so wrapping
 * hides nothing.
 */
public interface CheckpointStore extends StateUploader, StateDeleter, Closeable {

    /**
     * Says how a failure of one of this store's operations should be treated. Called with whatever
     * the operation threw, causes included; must not throw.
     */
    FailureClass classify(Throwable failure);

    /** A short name for logs and metrics, e.g. {@code "flink-fs"}. */
    String name();

    /**
     * This store's implementation of an optional capability, if it has it. The default answers for
     * the store itself; wrappers override it to answer for what they wrap.
     */
    default <T> Optional<T> capability(Class<T> type) {
        return type.isInstance(this) ? Optional.of(type.cast(this)) : Optional.empty();
    }
}
