package io.github.resilientcheckpoints.store;

import java.io.Closeable;

/**
 * The seam between the mechanisms (retry, spill, and later throttle and cleanup) and one kind of
 * remote store. It carries what a checkpoint upload needs and Flink's {@code FileSystem} cannot
 * express: a classification of failures for the retry loop. Reads never go through it: Flink
 * restores through its own {@code FileSystem} for the scheme, which keeps our checkpoints plain.
 *
 * <p>Implementations are thread safe; one instance serves every stream of a TaskManager.
 */
public interface CheckpointStore extends StateUploader, StateDeleter, Closeable {

    /**
     * Says how a failure of one of this store's operations should be treated. Called with whatever
     * the operation threw, causes included; must not throw.
     */
    FailureClass classify(Throwable failure);

    /** A short name for logs and metrics, e.g. {@code "flink-fs"}. */
    String name();
}
