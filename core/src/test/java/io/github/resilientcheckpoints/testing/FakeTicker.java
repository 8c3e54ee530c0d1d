package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.time.Ticker;
import java.util.concurrent.atomic.AtomicLong;

/** A ticker tests move by hand. */
public final class FakeTicker implements Ticker {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    @Override
    public long nanoTime() {
        return now.get();
    }

    public void advanceNanos(long nanos) {
        now.addAndGet(nanos);
    }

    public void advanceMillis(long millis) {
        now.addAndGet(millis * 1_000_000L);
    }
}
