package io.github.resilientcheckpoints.store;

import java.util.concurrent.atomic.LongAdder;

/**
 * The request counters of one store instance, forwarding every event to the listener the runtime
 * registered ({@link SupportsRequestEvents}). A store keeps one of these so that its own numbers
 * (one store, e.g. in a test or a diagnostic) and the runtime's (every store of the TaskManager)
 * come from the same calls.
 */
public final class StoreRequestCounters implements StoreRequestListener {

    private final LongAdder dataRequests = new LongAdder();
    private final LongAdder dataRetries = new LongAdder();
    private final LongAdder deleteRequests = new LongAdder();
    private final LongAdder otherRetries = new LongAdder();
    private final LongAdder throttled = new LongAdder();
    private volatile StoreRequestListener forward = StoreRequestListener.NONE;

    /** From now on, every event is also reported to {@code listener}. */
    public void forwardTo(StoreRequestListener listener) {
        this.forward = listener;
    }

    @Override
    public void dataRequestSent() {
        dataRequests.increment();
        forward.dataRequestSent();
    }

    @Override
    public void dataRequestRetried() {
        dataRetries.increment();
        forward.dataRequestRetried();
    }

    @Override
    public void deleteRequestSent() {
        deleteRequests.increment();
        forward.deleteRequestSent();
    }

    @Override
    public void otherRequestRetried() {
        otherRetries.increment();
        forward.otherRequestRetried();
    }

    @Override
    public void throttledResponse() {
        throttled.increment();
        forward.throttledResponse();
    }

    /** Requests that carried file bytes, resends included. */
    public long dataRequests() {
        return dataRequests.sum();
    }

    /** Resends of requests that carried file bytes. */
    public long dataRequestRetries() {
        return dataRetries.sum();
    }

    /** Resends of every kind: file bytes and the others. */
    public long requestRetries() {
        return dataRetries.sum() + otherRetries.sum();
    }

    /** Delete requests sent (a batched delete counts once). */
    public long deleteRequests() {
        return deleteRequests.sum();
    }

    /** Requests answered with "slow down". */
    public long throttledResponses() {
        return throttled.sum();
    }
}
