package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.UploadSource;

import org.apache.flink.core.fs.Path;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.io.InterruptedIOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One upload whose parts go to the store while the state is still being written (S3 multipart),
 * from a growing local file. It owns, on every exit, the upload permit it holds from start to end,
 * the parts it sent, the completion, the deadline, the counters and the abort:
 *
 * <ul>
 *   <li>{@link #tryStart} takes a permit without waiting (the writer thread must not block; without
 *       a permit the file simply goes up whole at the end) and starts the store's part upload.
 *   <li>{@link #sendFullParts} queues every full part written so far; it returns at once.
 *   <li>{@link #complete} sends the rest and waits, within the deadline and until cancelled, for
 *       the store to complete the upload. Whatever happens, the upload has ended when it returns:
 *       completed (the permit is back), or aborted.
 *   <li>{@link #abort} gives up, from any thread, any number of times: the permit goes back at
 *       once, and the store's abort runs on the uploader's cleanup executor, never on the caller's
 *       thread, which Flink may have interrupted. An upload that completes after it was given up
 *       belongs to nobody and is deleted there too.
 * </ul>
 *
 * <p>Only an optimisation: the local file stays until the end, so when this returns no path the
 * caller uploads the whole file the ordinary, retried way.
 *
 * <p>Threading: one writer thread calls {@code sendFullParts} and {@code complete}; {@code abort}
 * may come from any thread. The permit is released exactly once.
 */
public final class PipelinedUpload {

    private static final Logger LOG = LoggerFactory.getLogger(PipelinedUpload.class);

    private final SupportsPartUploads.PartUpload upload;
    private final RetryingUploader uploader;
    private final StorageMetrics metrics;
    private final Ticker ticker;
    private final UploadDeadline deadline;
    private final Path target;
    private final long partSize;
    /** Set once, by whoever ends the upload first; that one gives the permit back. */
    private final AtomicBoolean ended = new AtomicBoolean();
    /** Writer thread only. */
    private int partsSent;

    private PipelinedUpload(SupportsPartUploads.PartUpload upload, long partSize, RetryingUploader uploader,
            StorageMetrics metrics, Ticker ticker, UploadDeadline deadline, Path target) {
        this.upload = upload;
        this.partSize = partSize;
        this.uploader = uploader;
        this.metrics = metrics;
        this.ticker = ticker;
        this.deadline = deadline;
        this.target = target;
    }

    /**
     * Starts a part upload to {@code target} if an upload permit is free right now.
     *
     * @return null when no permit is free or the store could not start one (the file then goes up
     *     whole at the end); nothing is held then
     */
    @Nullable
    public static PipelinedUpload tryStart(SupportsPartUploads store, Path target, RetryingUploader uploader,
            StorageMetrics metrics, Ticker ticker, UploadDeadline deadline) {
        UploadThrottle throttle = uploader.throttle();
        if (!throttle.tryAcquirePermit()) {
            return null;
        }
        try {
            return new PipelinedUpload(store.startPartUpload(target), store.partSize(), uploader, metrics,
                    ticker, deadline, target);
        } catch (Exception | Error e) {
            throttle.releasePermit();
            LOG.debug("Could not start a part upload for {}; the file goes up whole at the end", target, e);
            return null;
        }
    }

    /** Every part but the last has this size. */
    public long partSize() {
        return partSize;
    }

    /** Whether the upload has ended: completed, failed or aborted. */
    public boolean ended() {
        return ended.get();
    }

    /**
     * Queues every full part of the first {@code fileBytes} bytes of {@code file} that has not gone
     * yet; returns at once. Does nothing once the upload has ended.
     */
    public void sendFullParts(java.nio.file.Path file, long fileBytes) {
        while (fileBytes - (long) partsSent * partSize >= partSize && !ended.get()) {
            long offset = (long) partsSent * partSize;
            upload.submitPart(partsSent + 1, uploader.throttled(new FileSlice(file, offset, partSize), deadline));
            partsSent++;
        }
    }

    /**
     * Sends bytes {@code [parts sent, fileBytes)} of {@code file} as the last part and waits until
     * the store completed the upload, the deadline passed or {@code cancellation} fired. The upload
     * has ended when this returns or throws.
     *
     * @return where the bytes are, durable; null when the pipelined upload failed or ran out of time
     *     (it was aborted; the caller may upload the whole file instead)
     * @throws InterruptedIOException when cancelled or interrupted (the upload was aborted; the
     *     interrupt flag is kept)
     */
    @Nullable
    public Path complete(java.nio.file.Path file, long fileBytes, UploadCancellation cancellation)
            throws InterruptedIOException {
        if (ended.get()) {
            return null;
        }
        long sent = (long) partsSent * partSize;
        int lastPart = partsSent + 1;
        UploadSource last = uploader.throttled(new FileSlice(file, sent, fileBytes - sent), deadline);
        CompletableFuture<Path> completion = new CompletableFuture<>();
        try {
            uploader.executor().execute(() -> {
                try {
                    completion.complete(upload.complete(lastPart, last));
                } catch (Throwable t) {
                    completion.completeExceptionally(t);
                }
            });
        } catch (RejectedExecutionException e) {
            return failed(completion, "the upload threads refused the completion: " + e);
        }
        try {
            long left = deadline.nanos() - ticker.nanoTime();
            CompletableFuture.anyOf(completion, cancellation.signal())
                    .get(Math.max(0, left), TimeUnit.NANOSECONDS);
            if (completion.isDone()) {
                Path written = completion.join(); // throws CompletionException if it failed
                if (!ended.compareAndSet(false, true)) {
                    // Aborted from another thread while the last request completed.
                    uploader.discard(written);
                    throw cancelled(cancellation);
                }
                uploader.throttle().releasePermit();
                metrics.uploadStarted();
                metrics.uploadSucceeded(fileBytes);
                metrics.pipelinedUpload();
                return written;
            }
            giveUp(completion);
            throw cancelled(cancellation);
        } catch (TimeoutException e) {
            // No time for the whole-file upload either: the caller's upload gives up at once.
            giveUp(completion);
            LOG.warn("Part upload to {} did not complete before the checkpoint deadline; aborted.", target);
            return null;
        } catch (ExecutionException | java.util.concurrent.CompletionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            if (cancellation.isCancelled()) {
                giveUp(completion);
                throw cancelled(cancellation);
            }
            return failed(completion, uploader.redactor().describe(cause));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            giveUp(completion);
            throw new InterruptedIOException("interrupted while completing the part upload to " + target);
        }
    }

    private InterruptedIOException cancelled(UploadCancellation cancellation) {
        metrics.uploadCancelled();
        return new InterruptedIOException("part upload to " + target + " was cancelled: the state stream was"
                + " closed (checkpoint aborted or task cancelled)");
    }

    @Nullable
    private Path failed(CompletableFuture<Path> completion, String why) {
        giveUp(completion);
        metrics.pipelineFallback();
        LOG.warn("Part upload to {} failed ({}); uploading the whole spilled file with retries instead.",
                target, why);
        return null;
    }

    /** Aborts, and deletes the object should the completion still succeed later. */
    private void giveUp(CompletableFuture<Path> completion) {
        abort();
        completion.whenComplete((written, failure) -> {
            if (written != null) {
                uploader.discard(written);
            }
        });
    }

    /**
     * Gives up: the permit goes back now; the store cancels the parts in flight and deletes what
     * was sent, on the cleanup executor. Idempotent, never throws, any thread.
     */
    public void abort() {
        if (!ended.compareAndSet(false, true)) {
            return;
        }
        uploader.throttle().releasePermit();
        uploader.cleanUp("abort of the part upload to " + target, upload::abort);
    }

    @Override
    public String toString() {
        return "PipelinedUpload{" + target + ", " + partsSent + " parts sent" + (ended.get() ? ", ended" : "") + '}';
    }
}
