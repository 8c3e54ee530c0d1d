package io.github.resilientcheckpoints.store;

/**
 * Optional store capability: a store that sends and resends requests on its own reports each one to
 * a {@link StoreRequestListener}, so the runtime's metrics count what the store really did, not
 * only the storage's attempts.
 */
public interface SupportsRequestEvents {

    /**
     * Registers who to tell (replacing any listener set before); called once, before the first
     * upload. Events before the call are not reported to it.
     */
    void onRequestEvents(StoreRequestListener listener);
}
