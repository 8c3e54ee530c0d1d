package io.github.resilientcheckpoints.upload;

/** A monotonic nanosecond clock, injected so that deadlines and backoff are testable. */
@FunctionalInterface
public interface Ticker {

    Ticker SYSTEM = System::nanoTime;

    long nanoTime();
}
