package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.spill.StagedReaders;
import io.github.resilientcheckpoints.store.SupportsStreamingUpload;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import javax.annotation.Nullable;
import org.apache.flink.core.fs.Path;

/**
 * HDFS and Flink file systems: one upload thread appends the file to one remote write as the writer
 * publishes its length, and commits once the writer says where the file ends.
 *
 * <p>The writer publishes with one volatile write and, only if the follower is parked and a whole
 * chunk is waiting for it, an unpark: no lock, no allocation, and on a busy machine no wake-up per
 * small spill write. The follower parks only after announcing itself and checking the length once
 * more, so a publication is never missed; parking is bounded, after which it sends whatever is
 * there.
 */
final class FollowFeed implements PipelineFeed {
    /**
     * Large reads keep the remote write's calls few; one buffer per upload, on the upload thread.
     */
    private static final int CHUNK = 256 * 1024;

    private static final long PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    private final SupportsStreamingUpload store;
    private final Path target;
    private final java.nio.file.Path file;
    private final UploadThrottle throttle;
    private final UploadDeadline deadline;
    private final StagedReaders readers;
    final CompletableFuture<Path> result = new CompletableFuture<>();

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
                if (position < available && (complete || waited || available - position >= CHUNK)) {
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
    public CompletableFuture<Void> abort(UploadContext context, String what) {
        stopped = true;
        task.cancel(true);
        CompletableFuture<Void> done = new CompletableFuture<>();
        finished.whenComplete(
                (ignored, error) ->
                        context.discardInBackground(
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
