package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.StagedReaders;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.SupportsStreamingUpload;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import javax.annotation.Nullable;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One upload that goes to the store while the state is still being written, from a growing local
 * file (the spill file, which stays the replay log). Two kinds, one owner:
 *
 * <ul>
 *   <li><b>parts</b> ({@link SupportsPartUploads}, S3 multipart): every full part is queued as soon
 *       as it is in the file, and the store sends and retries parts on its own threads;
 *   <li><b>following write</b> ({@link SupportsStreamingUpload}, HDFS and Flink file systems): one
 *       upload thread reads the file up to the length the writer has published and appends it to
 *       one remote write, parking when it has caught up; the end is only the tail and the commit.
 * </ul>
 *
 * It owns, on every exit, the upload permit it holds from start to end, what it sent, the
 * completion, the deadline, the counters and the abort:
 *
 * <ul>
 *   <li>{@link #tryStart} / {@link #tryFollow} take a permit without waiting (the writer thread
 *       must not block; without a permit the file simply goes up whole at the end) and start the
 *       upload.
 *   <li>{@link #advance} tells the upload how far the file is written (queues full parts, or wakes
 *       the following writer); it returns at once, takes no lock and allocates nothing for a
 *       following write.
 *   <li>{@link #complete} sends the rest and waits, within the deadline and until cancelled, for
 *       the store to complete the upload. Whatever happens, the upload has ended when it returns:
 *       completed (the permit is back), or aborted.
 *   <li>{@link #abort} gives up, from any thread, any number of times: the permit goes back at
 *       once, and the store's abort runs on the uploader's discard executor, never on the caller's
 *       thread, which Flink may have interrupted. An upload that completes after it was given up
 *       belongs to nobody and is deleted there too.
 * </ul>
 *
 * <p>Only an optimisation: the local file stays until the end, so when this returns no path the
 * caller uploads the whole file the ordinary, retried way.
 *
 * <p>Threading: one writer thread calls {@code advance} and {@code complete}; {@code abort} may
 * come from any thread. The permit is released exactly once.
 */
public final class PipelinedUpload {

    private static final Logger LOG = LoggerFactory.getLogger(PipelinedUpload.class);

    private final Feed feed;
    private final RetryingUploader uploader;
    private final StorageMetrics metrics;
    private final Ticker ticker;
    private final UploadDeadline deadline;
    private final Path target;

    /** Set once, by whoever ends the upload first; that one gives the permit back. */
    private final AtomicBoolean ended = new AtomicBoolean();

    /** Completes when an {@link #abort} has cancelled and deleted everything; null until then. */
    @Nullable private volatile CompletableFuture<Void> aborted;

    private PipelinedUpload(
            Feed feed,
            RetryingUploader uploader,
            StorageMetrics metrics,
            Ticker ticker,
            UploadDeadline deadline,
            Path target) {
        this.feed = feed;
        this.uploader = uploader;
        this.metrics = metrics;
        this.ticker = ticker;
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
            RetryingUploader uploader,
            StorageMetrics metrics,
            Ticker ticker,
            UploadDeadline deadline,
            StagedReaders readers) {
        UploadThrottle throttle = uploader.throttle();
        if (!throttle.tryAcquirePermit()) {
            return null;
        }
        try {
            PartsFeed parts =
                    new PartsFeed(
                            store.startPartUpload(target),
                            store.partSize(),
                            uploader,
                            deadline,
                            readers);
            return new PipelinedUpload(parts, uploader, metrics, ticker, deadline, target);
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
            RetryingUploader uploader,
            StorageMetrics metrics,
            Ticker ticker,
            UploadDeadline deadline,
            StagedReaders readers) {
        UploadThrottle throttle = uploader.throttle();
        if (!throttle.tryAcquirePermit()) {
            return null;
        }
        FollowFeed follow =
                new FollowFeed(store, target, file, uploader.throttle(), deadline, readers);
        try {
            uploader.executor().execute(follow.task);
        } catch (RejectedExecutionException e) {
            throttle.releasePermit();
            LOG.debug(
                    "Upload threads refused the following write to {}; the file goes up whole at the end",
                    target,
                    e);
            return null;
        }
        PipelinedUpload p =
                new PipelinedUpload(follow, uploader, metrics, ticker, deadline, target);
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
        metrics.uploadCancelled();
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
        uploader.throttle().releasePermit();
        if (uploader.classify(cause) == FailureClass.THROTTLED) {
            uploader.throttle().onThrottled();
        }
        metrics.pipelineFallback();
        LOG.warn(
                "{} to {} failed ({}); the whole spilled file goes up with retries instead.",
                feed.kind(),
                target,
                uploader.redactor().describe(cause));
        aborted = feed.abort(uploader, "abort of the failed " + feed.kind() + " to " + target);
    }

    /** Aborts, and deletes the object should the completion still succeed later. */
    private void giveUp(CompletableFuture<Path> completion) {
        abort();
        completion.whenComplete(
                (written, failure) -> {
                    if (written != null) {
                        uploader.discard(written);
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
        uploader.throttle().releasePermit();
        aborted = feed.abort(uploader, "abort of the " + feed.kind() + " to " + target);
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

    /** What goes to the store while the file grows, and how it ends. */
    private interface Feed {

        /** For messages: "part upload" or "following write". */
        String kind();

        /** Writer thread; the upload has not ended. */
        void advance(java.nio.file.Path file, long fileBytes);

        /** Writer thread, once: sends the rest; the future completes with where the bytes are. */
        CompletableFuture<Path> finish(java.nio.file.Path file, long fileBytes);

        /**
         * Once, after the upload was given up: cancels and deletes, never on the caller's thread.
         *
         * @return completes when that is done
         */
        CompletableFuture<Void> abort(RetryingUploader uploader, String what);
    }

    /**
     * S3 multipart: full parts are queued as they are written; the store sends and retries them.
     */
    private static final class PartsFeed implements Feed {
        private final SupportsPartUploads.PartUpload upload;
        private final long partSize;
        private final RetryingUploader uploader;
        private final UploadDeadline deadline;
        private final StagedReaders readers;

        /** Writer thread only. */
        private int partsSent;

        PartsFeed(
                SupportsPartUploads.PartUpload upload,
                long partSize,
                RetryingUploader uploader,
                UploadDeadline deadline,
                StagedReaders readers) {
            this.readers = readers;
            this.upload = upload;
            this.partSize = partSize;
            this.uploader = uploader;
            this.deadline = deadline;
        }

        @Override
        public String kind() {
            return "part upload";
        }

        @Override
        public void advance(java.nio.file.Path file, long fileBytes) {
            while (fileBytes - (long) partsSent * partSize >= partSize) {
                long offset = (long) partsSent * partSize;
                upload.submitPart(partsSent + 1, slice(file, offset, partSize));
                partsSent++;
            }
        }

        @Override
        public CompletableFuture<Path> finish(java.nio.file.Path file, long fileBytes) {
            long sent = (long) partsSent * partSize;
            int lastPart = partsSent + 1;
            UploadSource last = slice(file, sent, fileBytes - sent);
            CompletableFuture<Path> completion = new CompletableFuture<>();
            uploader.executor()
                    .execute(
                            () -> {
                                try {
                                    completion.complete(upload.complete(lastPart, last));
                                } catch (Throwable t) {
                                    completion.completeExceptionally(t);
                                }
                            });
            return completion;
        }

        /** Bytes of the file as the store reads them: throttled, and counted while open. */
        private UploadSource slice(java.nio.file.Path file, long offset, long length) {
            FileSlice slice = new FileSlice(file, offset, length);
            UploadSource counted =
                    new UploadSource() {
                        @Override
                        public long length() {
                            return length;
                        }

                        @Override
                        public InputStream open() throws IOException {
                            return readers.open(slice::open);
                        }
                    };
            return uploader.throttled(counted, deadline);
        }

        @Override
        public CompletableFuture<Void> abort(RetryingUploader uploader, String what) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            uploader.discardInBackground(
                    what,
                    () -> {
                        try {
                            upload.abort();
                        } finally {
                            done.complete(null);
                        }
                    });
            return done;
        }

        @Override
        public String toString() {
            return partsSent + " parts sent";
        }
    }

    /**
     * HDFS and Flink file systems: one upload thread appends the file to one remote write as the
     * writer publishes its length, and commits once the writer says where the file ends.
     *
     * <p>The writer publishes with one volatile write and, only if the follower is parked and a
     * whole chunk is waiting for it, an unpark: no lock, no allocation, and on a busy machine no
     * wake-up per small spill write. The follower parks only after announcing itself and checking
     * the length once more, so a publication is never missed; parking is bounded, after which it
     * sends whatever is there.
     */
    private static final class FollowFeed implements Feed {
        /**
         * Large reads keep the remote write's calls few; one buffer per upload, on the upload
         * thread.
         */
        private static final int CHUNK = 256 * 1024;

        private static final long PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

        private final SupportsStreamingUpload store;
        private final Path target;
        private final java.nio.file.Path file;
        private final UploadThrottle throttle;
        private final UploadDeadline deadline;
        private final StagedReaders readers;
        private final CompletableFuture<Path> result = new CompletableFuture<>();

        /** Completes once the follower's thread has left the store (or the task never ran). */
        private final CompletableFuture<Void> finished = new CompletableFuture<>();

        final FutureTask<Path> task;

        /** Bytes of the file the writer has written: the follower may read up to here. */
        private volatile long published;

        /** Set (after the last {@link #published}) when the file is complete. */
        private volatile boolean last;

        private volatile boolean stopped;
        @Nullable private volatile Thread parked;
        @Nullable private volatile SupportsStreamingUpload.StreamingUpload upload;

        /** Bytes handed to the store; follower thread only (read for diagnostics). */
        private volatile long sent;

        FollowFeed(
                SupportsStreamingUpload store,
                Path target,
                java.nio.file.Path file,
                UploadThrottle throttle,
                UploadDeadline deadline,
                StagedReaders readers) {
            this.readers = readers;
            this.store = store;
            this.target = target;
            this.file = file;
            this.throttle = throttle;
            this.deadline = deadline;
            this.task =
                    new FutureTask<>(this::follow) {
                        @Override
                        public void run() {
                            try {
                                super.run();
                            } finally {
                                finished.complete(null);
                            }
                        }

                        @Override
                        protected void done() {
                            if (isCancelled()) {
                                result.completeExceptionally(
                                        new InterruptedIOException(
                                                "following write to " + target + " was given up"));
                                return;
                            }
                            try {
                                result.complete(get());
                            } catch (ExecutionException e) {
                                result.completeExceptionally(Failures.unwrap(e));
                            } catch (InterruptedException | CancellationException e) {
                                result.completeExceptionally(e);
                            }
                        }
                    };
        }

        @Override
        public String kind() {
            return "following write";
        }

        @Override
        public void advance(java.nio.file.Path file, long fileBytes) {
            published = fileBytes;
            Thread t = parked;
            if (t != null && fileBytes - sent >= CHUNK) {
                LockSupport.unpark(t);
            }
        }

        @Override
        public CompletableFuture<Path> finish(java.nio.file.Path file, long fileBytes) {
            published = fileBytes;
            last = true;
            Thread t = parked;
            if (t != null) {
                LockSupport.unpark(t);
            }
            return result;
        }

        /** The upload thread: open the remote write, follow the file, commit. */
        private Path follow() throws IOException {
            SupportsStreamingUpload.StreamingUpload out = store.startStreamingUpload(target);
            upload = out;
            byte[] bytes = new byte[CHUNK];
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            try (StagedReaders.Hold reading = readers.hold();
                    FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
                long position = 0;
                boolean waited = false;
                while (true) {
                    checkRunning();
                    boolean complete = last; // read before the length: a final length is then seen
                    long available = published;
                    if (position < available
                            && (complete || waited || available - position >= CHUNK)) {
                        buffer.clear().limit((int) Math.min(CHUNK, available - position));
                        int n = in.read(buffer, position);
                        if (n <= 0) {
                            throw new IOException(
                                    "spill file "
                                            + file
                                            + " ended at "
                                            + position
                                            + " bytes, before the "
                                            + available
                                            + " written to it");
                        }
                        if (throttle.settings().rateLimited()) {
                            throttle.acquireBytes(n, deadline.nanos());
                        }
                        out.write(bytes, 0, n);
                        position += n;
                        sent = position;
                        waited = false;
                    } else if (complete) {
                        return out.commit();
                    } else {
                        parked = Thread.currentThread();
                        if (published - position < CHUNK && !last && !stopped) {
                            LockSupport.parkNanos(this, PARK_NANOS);
                        }
                        parked = null;
                        waited = true;
                    }
                }
            }
        }

        private void checkRunning() throws InterruptedIOException {
            if (stopped || Thread.currentThread().isInterrupted()) {
                throw new InterruptedIOException("following write to " + target + " was given up");
            }
        }

        @Override
        public CompletableFuture<Void> abort(RetryingUploader uploader, String what) {
            stopped = true;
            task.cancel(true);
            CompletableFuture<Void> done = new CompletableFuture<>();
            finished.whenComplete(
                    (ignored, error) ->
                            uploader.discardInBackground(
                                    what,
                                    () -> {
                                        try {
                                            SupportsStreamingUpload.StreamingUpload u = upload;
                                            if (u != null) {
                                                u.abort();
                                            }
                                        } finally {
                                            done.complete(null);
                                        }
                                    }));
            return done;
        }

        @Override
        public String toString() {
            return sent + " bytes followed";
        }
    }
}
