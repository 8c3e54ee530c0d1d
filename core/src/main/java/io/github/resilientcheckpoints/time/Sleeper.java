package io.github.resilientcheckpoints.time;

import java.util.concurrent.TimeUnit;

/** Waits; injected so that throttle tests run on a fake clock. */
@FunctionalInterface
public interface Sleeper {

    Sleeper SYSTEM = nanos -> TimeUnit.NANOSECONDS.sleep(nanos);

    void sleepNanos(long nanos) throws InterruptedException;
}
