package io.github.resilientcheckpoints.store;

/**
 * Request-level events inside a store, below the storage's attempts: what an adapter sent and
 * resent on its own (e.g. S3 parts, batched deletes). The runtime passes its {@code StorageMetrics}
 * here (see {@link SupportsRequestEvents}), so these events reach JMX and Flink's metrics without
 * the core knowing any store's types.
 *
 * <p>Called from upload, part and cleanup threads at once: implementations are thread safe and
 * cheap (a counter increment), and never throw. Every method defaults to doing nothing, so a store
 * reports only the events it has.
 */
public interface StoreRequestListener {

    /** Ignores every event. */
    StoreRequestListener NONE = new StoreRequestListener() {};

    /**
     * A request that carried file bytes was sent: a whole small file or one part of a multipart
     * upload. Resends count again.
     */
    default void dataRequestSent() {}

    /** A request that carried file bytes failed retryably and is sent again by the store itself. */
    default void dataRequestRetried() {}

    /** A delete request was sent; a batched delete counts once, whatever its size. */
    default void deleteRequestSent() {}

    /**
     * Any other request (start or completion of a multipart upload, a batched delete, …) failed
     * retryably and is sent again by the store itself.
     */
    default void otherRequestRetried() {}

    /** The store answered one request with "slow down" (e.g. S3's 503 SlowDown, a 429). */
    default void throttledResponse() {}
}
