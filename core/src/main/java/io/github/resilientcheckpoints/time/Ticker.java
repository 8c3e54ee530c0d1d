package io.github.resilientcheckpoints.time;

/** A monotonic nanosecond clock, injected so that deadlines and backoff are testable. */
@FunctionalInterface
public interface Ticker {

    Ticker SYSTEM = System::nanoTime;

    long nanoTime();
}
