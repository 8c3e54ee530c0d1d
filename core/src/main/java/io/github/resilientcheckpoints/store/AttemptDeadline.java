package io.github.resilientcheckpoints.store;

import java.io.IOException;
import java.util.OptionalLong;

/**
 * The time by which the store attempt running on this thread must end ({@link System#nanoTime()}
 * based), set by whoever runs the attempt and waits for it: the JobManager's retry loop and the
 * TaskManager's uploader. A store that can bound a single request (S3: the SDK's per-request
 * timeout) ends a request that hangs at this time, so the attempt fails in time for another instead
 * of holding its thread, and its caller's bound, until the store's own request timeout.
 *
 * <p>Stores that cannot bound a request ignore it; their callers still stop waiting at the
 * deadline.
 */
public final class AttemptDeadline {

    private static final ThreadLocal<Long> CURRENT = new ThreadLocal<>();

    private AttemptDeadline() {}

    /** The work of one attempt. */
    @FunctionalInterface
    public interface Body<T> {
        T run() throws IOException;
    }

    /**
     * Runs {@code body} on this thread with {@code deadlineNanos} as its attempt deadline; an
     * earlier deadline already set on this thread stays in force.
     */
    public static <T> T during(long deadlineNanos, Body<T> body) throws IOException {
        Long previous = CURRENT.get();
        long effective =
                previous == null || deadlineNanos - previous < 0 ? deadlineNanos : previous;
        CURRENT.set(effective);
        try {
            return body.run();
        } finally {
            if (previous == null) {
                CURRENT.remove();
            } else {
                CURRENT.set(previous);
            }
        }
    }

    /** Like {@link #during(long, Body)}, for a deadline that may be absent. */
    public static <T> T during(OptionalLong deadlineNanos, Body<T> body) throws IOException {
        return deadlineNanos.isPresent() ? during(deadlineNanos.getAsLong(), body) : body.run();
    }

    /** This thread's attempt deadline, if an attempt with one is running on it. */
    public static OptionalLong current() {
        Long deadline = CURRENT.get();
        return deadline == null ? OptionalLong.empty() : OptionalLong.of(deadline);
    }

    /**
     * Nanoseconds left until this thread's attempt deadline ({@code <= 0} once it passed), or empty
     * without one.
     */
    public static OptionalLong remainingNanos() {
        Long deadline = CURRENT.get();
        return deadline == null
                ? OptionalLong.empty()
                : OptionalLong.of(deadline - System.nanoTime());
    }
}
