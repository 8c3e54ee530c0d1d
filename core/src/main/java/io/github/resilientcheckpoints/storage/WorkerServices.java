package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.UploadDeadline;
import java.util.function.Supplier;

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
    private final Supplier<StoreInUse> storeUse;

    /** A stream's hold on its store: released once, when the stream has ended. */
    public interface StoreInUse {
        StoreInUse NONE = () -> {};

        /** Idempotent. */
        void release();
    }

    public WorkerServices(
            RetryingUploader uploader,
            SpillSpace spillSpace,
            StorageMetrics metrics,
            Ticker ticker,
            long uploadBudgetNanos) {
        this(uploader, spillSpace, metrics, ticker, uploadBudgetNanos, () -> StoreInUse.NONE);
    }

    /**
     * @param storeUse marks the uploader's store as in use by one more stream (the runtime never
     *     closes a store in use as idle)
     */
    public WorkerServices(
            RetryingUploader uploader,
            SpillSpace spillSpace,
            StorageMetrics metrics,
            Ticker ticker,
            long uploadBudgetNanos,
            Supplier<StoreInUse> storeUse) {
        this.storeUse = storeUse;
        this.uploader = uploader;
        this.spillSpace = spillSpace;
        this.metrics = metrics;
        this.ticker = ticker;
        this.uploadBudgetNanos = uploadBudgetNanos;
    }

    /** Called by each stream when it is created; it releases the result when it has ended. */
    public StoreInUse useStore() {
        return storeUse.get();
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
