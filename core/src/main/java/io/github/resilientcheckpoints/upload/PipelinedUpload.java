package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.spill.StagedReaders;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.SupportsStreamingUpload;
import java.io.InterruptedIOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.annotation.Nullable;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One upload that goes to the store while the state is still written, from the growing spill file
 * (which stays the replay log): full parts ({@link PartsFeed}) or one write that follows the file
 * ({@link FollowFeed}). It holds an upload permit from start to end and owns, on every exit, what
 * it sent, the completion, the deadline and the abort. Only an optimisation: when it returns no
 * path, the caller uploads the whole file with retries. One writer thread calls {@link #advance}
 * and {@link #complete}; {@link #abort} may come from any thread.
 */
public final class PipelinedUpload {

    private static final Logger LOG = LoggerFactory.getLogger(PipelinedUpload.class);

    private final PipelineFeed feed;
    private final UploadContext context;
    private final UploadDeadline deadline;
    private final Path target;

    /** Set once, by whoever ends the upload first; that one gives the permit back. */
    private final AtomicBoolean ended = new AtomicBoolean();

    /** Completes when an {@link #abort} has cancelled and deleted everything; null until then. */
    @Nullable private volatile CompletableFuture<Void> aborted;

    private PipelinedUpload(
            PipelineFeed feed, UploadContext context, UploadDeadline deadline, Path target) {
        this.feed = feed;
        this.context = context;
        this.deadline = deadline;
        this.target = target;
    }

    /**
     * Starts a part upload to {@code target} if an upload permit is free right now.
     *
     * @param readers counts the part requests reading the file, so that it stays reserved while a
     *     part the store gave up on still reads it
     * @return null when no permit is free or the store could not start one (the file then goes up
     *     whole at the end); nothing is held then
     */
    @Nullable
    public static PipelinedUpload tryStart(
            SupportsPartUploads store,
            Path target,
            UploadContext context,
            UploadDeadline deadline,
            StagedReaders readers) {
        UploadThrottle throttle = context.throttle();
        if (!throttle.tryAcquirePermit()) {
            return null;
        }
        try {
            PartsFeed parts =
                    new PartsFeed(
                            store.startPartUpload(target),
                            store.partSize(),
                            context,
                            deadline,
                            readers);
            return new PipelinedUpload(parts, context, deadline, target);
        } catch (Exception | Error e) {
            throttle.releasePermit();
            LOG.debug(
                    "Could not start a part upload for {}; the file goes up whole at the end",
                    target,
                    e);
            return null;
        }
    }

    /** Whether the upload has ended: completed, failed or aborted. */
    public boolean ended() {
        return ended.get();
    }

    /**
     * Starts a write that follows {@code file} to {@code target} on an upload thread, if an upload
     * permit is free right now. The store's write is opened on that thread too: nothing here waits
     * for the store.
     *
     * @param readers counts the follower while it has the file open, so that the file stays
     *     reserved while a follower that was given up is still stuck in the store
     * @return null when no permit is free or the upload threads refused the task (the file then
     *     goes up whole at the end); nothing is held then
     */
    @Nullable
    public static PipelinedUpload tryFollow(
            SupportsStreamingUpload store,
            Path target,
            java.nio.file.Path file,
            UploadContext context,
            UploadDeadline deadline,
            StagedReaders readers) {
        UploadThrottle throttle = context.throttle();
        if (!throttle.tryAcquirePermit()) {
            return null;
        }
        FollowFeed follow = new FollowFeed(store, target, file, throttle, deadline, readers);
        try {
            context.executor().execute(follow.task);
        } catch (RejectedExecutionException e) {
            throttle.releasePermit();
            LOG.debug(
                    "Upload threads refused the following write to {}; the file goes up whole at the end",
                    target,
                    e);
            return null;
        }
        PipelinedUpload p = new PipelinedUpload(follow, context, deadline, target);
        // A following write that fails while the state is still written ends at once: its permit
        // goes back and its file is deleted now, not when the writer reaches closeAndGetHandle().
        follow.result.whenComplete(
                (written, failure) -> {
                    if (failure != null) {
                        p.endFailed(failure);
                    }
                });
        return p;
    }

    /**
     * The first {@code fileBytes} bytes of {@code file} are written: queues every full part that
     * has not gone yet, or lets the following write read up to there. Returns at once; does nothing
     * once the upload has ended. Writer thread only.
     */
    public void advance(java.nio.file.Path file, long fileBytes) {
        if (!ended.get()) {
            feed.advance(file, fileBytes);
        }
    }

    /**
     * Sends the rest of the first {@code fileBytes} bytes of {@code file} (the last part, or the
     * tail of the following write), then waits until the store completed the upload, the deadline
     * passed or {@code cancellation} fired. The upload has ended when this returns or throws.
     *
     * @return where the bytes are, durable; null when the pipelined upload failed or ran out of
     *     time (it was aborted; the caller may upload the whole file instead)
     * @throws InterruptedIOException when cancelled or interrupted (the upload was aborted; the
     *     interrupt flag is kept)
     */
    @Nullable
    public Path complete(java.nio.file.Path file, long fileBytes, UploadCancellation cancellation)
            throws InterruptedIOException {
        if (ended.get()) {
            return null;
        }
        CompletableFuture<Path> completion;
        try {
            completion = feed.finish(file, fileBytes);
        } catch (RejectedExecutionException e) {
            // The upload threads refused the completion: nothing more will be sent.
            endFailed(e);
            return null;
        }
        try {
            long left = deadline.nanos() - context.ticker().nanoTime();
            CompletableFuture.anyOf(completion, cancellation.signal())
                    .get(Math.max(0, left), TimeUnit.NANOSECONDS);
            if (completion.isDone()) {
                Path written = completion.join(); // throws CompletionException if it failed
                if (!ended.compareAndSet(false, true)) {
                    // Aborted from another thread while the last request completed.
                    context.discard(written);
                    throw cancelled(cancellation);
                }
                context.throttle().releasePermit();
                context.metrics().uploadStarted();
                context.metrics().uploadSucceeded(fileBytes);
                context.metrics().pipelinedUpload();
                return written;
            }
            giveUp(completion);
            throw cancelled(cancellation);
        } catch (TimeoutException e) {
            // No time for the whole-file upload either: the caller's upload gives up at once.
            giveUp(completion);
            LOG.warn(
                    "{} to {} did not complete before the checkpoint deadline; aborted.",
                    feed.kind(),
                    target);
            return null;
        } catch (ExecutionException | CompletionException e) {
            Throwable cause = Failures.unwrap(e);
            if (cancellation.isCancelled()) {
                giveUp(completion);
                throw cancelled(cancellation);
            }
            endFailed(cause);
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            giveUp(completion);
            throw new InterruptedIOException(
                    "interrupted while completing the " + feed.kind() + " to " + target);
        }
    }

    private InterruptedIOException cancelled(UploadCancellation cancellation) {
        context.metrics().uploadCancelled();
        return new InterruptedIOException(
                feed.kind()
                        + " to "
                        + target
                        + " was cancelled: the state stream was"
                        + " closed (checkpoint aborted or task cancelled)");
    }

    /**
     * Ends the upload because the store's write failed (once, whoever sees the failure first: the
     * follower's callback or the writer in {@link #complete}): the permit goes back, a throttled
     * failure slows the throttle before the whole-file upload resends the bytes, as a throttled
     * attempt of that upload would, and what was written is deleted.
     */
    private void endFailed(Throwable cause) {
        if (!ended.compareAndSet(false, true)) {
            return; // already completed, aborted or failed
        }
        context.throttle().releasePermit();
        if (context.classify(cause) == FailureClass.THROTTLED) {
            context.throttle().onThrottled();
        }
        context.metrics().pipelineFallback();
        LOG.warn(
                "{} to {} failed ({}); the whole spilled file goes up with retries instead.",
                feed.kind(),
                target,
                context.redactor().describe(cause));
        aborted = feed.abort(context, "abort of the failed " + feed.kind() + " to " + target);
    }

    /** Aborts, and deletes the object should the completion still succeed later. */
    private void giveUp(CompletableFuture<Path> completion) {
        abort();
        completion.whenComplete(
                (written, failure) -> {
                    if (written != null) {
                        context.discard(written);
                    }
                });
    }

    /**
     * Gives up: the permit goes back now; the store cancels what is in flight and deletes what was
     * sent, on the discard executor (a following write first stops its thread, and is deleted once
     * that thread has left the store). Idempotent, never throws, any thread.
     */
    public void abort() {
        if (!ended.compareAndSet(false, true)) {
            return;
        }
        context.throttle().releasePermit();
        aborted = feed.abort(context, "abort of the " + feed.kind() + " to " + target);
    }

    /**
     * Waits, at most {@code timeoutNanos} and not at all on an interrupted thread, until an {@link
     * #abort} has deleted what the upload wrote: a stream closed by Flink then leaves nothing
     * behind when {@code close()} returns, as Flink's own stream does. The discard finishes in the
     * background either way.
     */
    public void awaitAborted(long timeoutNanos) {
        CompletableFuture<Void> done = aborted;
        if (done == null || Thread.currentThread().isInterrupted()) {
            return;
        }
        try {
            done.get(timeoutNanos, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.debug(
                    "The abort of the {} to {} is still running; it finishes in the background",
                    feed.kind(),
                    target);
        }
    }

    @Override
    public String toString() {
        return "PipelinedUpload{" + target + ", " + feed + (ended.get() ? ", ended" : "") + '}';
    }
}
