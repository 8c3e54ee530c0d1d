package io.github.resilientcheckpoints.store;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import org.junit.jupiter.api.Test;

class StoreRequestCountersTest {

    @Test
    void countsItsOwnEventsAndForwardsThoseAfterTheListenerWasSet() {
        StoreRequestCounters counters = new StoreRequestCounters();
        StorageMetrics metrics = new StorageMetrics();
        counters.dataRequestSent(); // before the listener: counted here only
        counters.forwardTo(metrics);
        counters.dataRequestSent();
        counters.dataRequestRetried();
        counters.otherRequestRetried();
        counters.deleteRequestSent();
        counters.throttledResponse();

        assertThat(counters.dataRequests()).isEqualTo(2);
        assertThat(counters.dataRequestRetries()).isEqualTo(1);
        assertThat(counters.requestRetries()).isEqualTo(2);
        assertThat(counters.deleteRequests()).isEqualTo(1);
        assertThat(counters.throttledResponses()).isEqualTo(1);
        assertThat(metrics.snapshot())
                .containsEntry("storeDataRequests", 1L)
                .containsEntry("storeDataRequestRetries", 1L)
                .containsEntry("storeOtherRequestRetries", 1L)
                .containsEntry("storeDeleteRequests", 1L)
                .containsEntry("storeThrottledResponses", 1L);
    }

    @Test
    void theRuntimesMetricsStartAtZeroForEveryStoreCounter() {
        assertThat(new StorageMetrics().snapshot())
                .containsEntry("storeDataRequests", 0L)
                .containsEntry("storeDataRequestRetries", 0L)
                .containsEntry("storeOtherRequestRetries", 0L)
                .containsEntry("storeDeleteRequests", 0L)
                .containsEntry("storeThrottledResponses", 0L);
    }
}
