package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.time.Ticker;

/**
 * When an upload gives up, in {@link Ticker} time. Either fixed (a checkpoint's deadline, counted
 * from when this TaskManager first saw the checkpoint) or counted from the moment the upload
 * starts: task-owned state belongs to no checkpoint, and its stream may stay open for a whole
 * checkpoint interval before it is uploaded (write-ahead sinks open it in {@code processElement}
 * and close it at the next snapshot).
 *
 * <p>Thread safe: the writer thread {@linkplain #start() starts} it, part threads read it.
 */
public final class UploadDeadline {

    /** {@link #nanos()} of a deadline counted from an upload start that has not happened yet. */
    public static final long NOT_STARTED = Long.MAX_VALUE;

    private final Ticker ticker;
    private final long budgetNanos;
    private volatile long deadlineNanos;

    private UploadDeadline(Ticker ticker, long budgetNanos, long deadlineNanos) {
        this.ticker = ticker;
        this.budgetNanos = budgetNanos;
        this.deadlineNanos = deadlineNanos;
    }

    /** A fixed deadline. */
    public static UploadDeadline at(long deadlineNanos) {
        return new UploadDeadline(null, 0, deadlineNanos);
    }

    /** A budget of {@code budgetNanos} that starts when {@link #start()} is first called. */
    public static UploadDeadline fromUploadStart(long budgetNanos, Ticker ticker) {
        if (budgetNanos < 0) {
            throw new IllegalArgumentException("budget must not be negative: " + budgetNanos);
        }
        return new UploadDeadline(ticker, budgetNanos, NOT_STARTED);
    }

    /**
     * The upload starts: a budget counted from the start begins now (only the first call counts); a
     * fixed deadline stays as it is.
     *
     * @return the deadline
     */
    public long start() {
        if (ticker != null && deadlineNanos == NOT_STARTED) {
            synchronized (this) {
                if (deadlineNanos == NOT_STARTED) {
                    long now = ticker.nanoTime();
                    long deadline = now + budgetNanos;
                    deadlineNanos = deadline < now ? NOT_STARTED - 1 : deadline;
                }
            }
        }
        return deadlineNanos;
    }

    /**
     * The deadline; {@link #NOT_STARTED} (no limit yet) for a budget whose upload has not started.
     */
    public long nanos() {
        return deadlineNanos;
    }

    @Override
    public String toString() {
        return ticker == null
                ? "deadline at " + deadlineNanos
                : deadlineNanos == NOT_STARTED
                        ? "budget of " + budgetNanos + " ns from the upload start"
                        : "deadline at "
                                + deadlineNanos
                                + " (budget of "
                                + budgetNanos
                                + " ns from the upload start)";
    }
}
