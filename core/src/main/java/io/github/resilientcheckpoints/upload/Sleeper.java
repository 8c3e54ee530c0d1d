package io.github.resilientcheckpoints.upload;

/** Waits; injected so that throttle tests run on a fake clock. */
@FunctionalInterface
public interface Sleeper {

    Sleeper SYSTEM = nanos -> java.util.concurrent.TimeUnit.NANOSECONDS.sleep(nanos);

    void sleepNanos(long nanos) throws InterruptedException;
}
