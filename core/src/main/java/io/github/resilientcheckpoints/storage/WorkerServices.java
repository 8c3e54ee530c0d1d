package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.UploadDeadline;

/**
 * What a TaskManager-side state stream needs besides its target: the retrying uploader, the spill
 * directories, the counters, the clock and the upload budget of a checkpoint. Built once per task
 * from the per-JVM runtime; tests build their own.
 */
public final class WorkerServices {

    private final RetryingUploader uploader;
    private final SpillSpace spillSpace;
    private final StorageMetrics metrics;
    private final Ticker ticker;
    private final long uploadBudgetNanos;

    public WorkerServices(
            RetryingUploader uploader,
            SpillSpace spillSpace,
            StorageMetrics metrics,
            Ticker ticker,
            long uploadBudgetNanos) {
        this.uploader = uploader;
        this.spillSpace = spillSpace;
        this.metrics = metrics;
        this.ticker = ticker;
        this.uploadBudgetNanos = uploadBudgetNanos;
    }

    public RetryingUploader uploader() {
        return uploader;
    }

    public SpillSpace spillSpace() {
        return spillSpace;
    }

    public StorageMetrics metrics() {
        return metrics;
    }

    public Ticker ticker() {
        return ticker;
    }

    /**
     * The deadline of a stream that belongs to no checkpoint (task-owned state): the upload budget,
     * counted from when its upload starts, not from when the stream was opened.
     */
    public UploadDeadline budgetFromUploadStart() {
        return UploadDeadline.fromUploadStart(uploadBudgetNanos, ticker);
    }

    /** Deadline for uploads of a checkpoint first seen at {@code firstSeenNanos}. */
    public long deadlineFrom(long firstSeenNanos) {
        long deadline = firstSeenNanos + uploadBudgetNanos;
        return deadline < firstSeenNanos ? Long.MAX_VALUE : deadline;
    }
}
