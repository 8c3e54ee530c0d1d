package io.github.resilientcheckpoints.store;

/**
 * Optional store capability: a store that retries internally (e.g. S3 parts) reports each throttle
 * signal it absorbs, so the TaskManager's throttle slows down even when the attempt as a whole
 * succeeds.
 */
public interface SupportsThrottleSignals {

    /** Registers who to tell; called once, before the first upload. */
    void onThrottleSignal(Runnable listener);
}
