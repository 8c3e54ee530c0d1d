package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.AttemptDeadline;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import javax.annotation.Nullable;
import javax.annotation.concurrent.GuardedBy;
import javax.annotation.concurrent.ThreadSafe;
import org.apache.flink.core.fs.Path;
import software.amazon.awssdk.services.s3.model.CompletedPart;

/**
 * One multipart upload: builds parts from units along {@link S3PartSchedule}, keeps at most {@code
 * s3.parallel-parts} of them on the store's part threads, retries each alone and aborts the upload
 * on any failure. The requests themselves are {@link S3MultipartRequests}.
 */
@ThreadSafe
final class S3MultipartUpload implements SupportsPartUploads.PartUpload {

    private final S3Context context;
    private final S3Location location;
    private final S3MultipartRequests requests;

    /**
     * Null until CreateMultipartUpload answered (an upload started in the background); parts go out
     * only once it is known.
     */
    private volatile String uploadId;

    /** Completed with the upload id, or with the failure of starting the upload. */
    private final CompletableFuture<String> created = new CompletableFuture<>();

    /** The background start on a part thread (null: started on the caller's thread). */
    @GuardedBy("this")
    @Nullable
    private Future<?> starting;

    private final S3PartSchedule schedule;
    private final int parallel;

    @GuardedBy("this")
    private final List<CompletableFuture<CompletedPart>> parts = new ArrayList<>();

    @GuardedBy("this")
    private final ArrayDeque<PartTask> waiting = new ArrayDeque<>();

    @GuardedBy("this")
    private final List<Future<?>> started = new ArrayList<>();

    @GuardedBy("this")
    private int inFlight;

    @GuardedBy("this")
    private List<UploadSource> unitsOfNextPart = new ArrayList<>();

    @GuardedBy("this")
    private int nextPartNumber = 1;

    @GuardedBy("this")
    private long bytes;

    @GuardedBy("this")
    private boolean finished;

    /**
     * Null for a fresh key. Otherwise the completion carries {@code If-None-Match: *} and counts
     * its attempts here; the caller, not this upload, decides what a failure left at the key is.
     */
    @Nullable private final AtomicInteger ifAbsentCompletions;

    /** The deadline of the attempt that started this upload (if any), for its part threads. */
    private final OptionalLong attemptDeadline;

    private S3MultipartUpload(
            S3Context context,
            S3Location location,
            S3MultipartRequests requests,
            @Nullable String uploadId,
            @Nullable AtomicInteger ifAbsentCompletions) {
        this.context = context;
        this.location = location;
        this.requests = requests;
        this.uploadId = uploadId;
        this.attemptDeadline = AttemptDeadline.current();
        if (uploadId != null) {
            created.complete(uploadId);
        }
        this.ifAbsentCompletions = ifAbsentCompletions;
        this.schedule =
                new S3PartSchedule(context.settings().partSize(), context.settings().maxParts());
        this.parallel = context.settings().parallelParts();
    }

    /** Creates the multipart upload of {@code location} (whose key is final: entropy injected). */
    static S3MultipartUpload start(S3Context context, S3Location location) throws IOException {
        return start(context, location, null);
    }

    /**
     * A multipart upload whose completion is conditional ({@code If-None-Match: *}): the key may be
     * taken, and is never replaced. Counts the completion's attempts in {@code completions}.
     */
    static S3MultipartUpload startIfAbsent(
            S3Context context, S3Location location, AtomicInteger completions) throws IOException {
        return start(context, location, completions);
    }

    private static S3MultipartUpload start(
            S3Context context, S3Location location, @Nullable AtomicInteger ifAbsentCompletions)
            throws IOException {
        S3MultipartRequests requests = new S3MultipartRequests(context, location);
        return new S3MultipartUpload(
                context, location, requests, requests.create(), ifAbsentCompletions);
    }

    /**
     * A multipart upload of {@code location} (whose key is final) that starts in the background:
     * the bucket check and CreateMultipartUpload, with their resends, run on a part thread, and
     * this returns at once, so the caller (a snapshot writer) never waits on S3 to start. Parts
     * queue until the upload exists; a failure to start it fails every part and surfaces at {@link
     * #complete}.
     */
    static S3MultipartUpload startInBackground(S3Context context, S3Location location)
            throws IOException {
        S3MultipartUpload upload =
                new S3MultipartUpload(
                        context, location, new S3MultipartRequests(context, location), null, null);
        synchronized (upload) {
            try {
                upload.starting = context.partExecutor().submit(upload::createInBackground);
            } catch (RejectedExecutionException e) {
                throw new IOException(
                        "the S3 part threads refused to start the upload of s3://"
                                + location.bucket()
                                + "/"
                                + location.key()
                                + " (the store is closing)",
                        e);
            }
        }
        return upload;
    }

    /** On a part thread: checks the bucket, creates the upload, then lets the parts go. */
    private void createInBackground() {
        String id;
        try {
            context.bucketCheck().ensureBucket(location.bucket());
            id = requests.create();
        } catch (Throwable t) {
            createFailed(t);
            return;
        }
        boolean abandoned;
        synchronized (this) {
            uploadId = id;
            starting = null;
            abandoned = finished;
            if (!abandoned) {
                dispatch();
            }
        }
        created.complete(id);
        if (abandoned) {
            // Aborted while it was being created: nobody else knows its id.
            context.cleanup().abortQuietly(location.bucket(), location.key(), id);
        }
    }

    private void createFailed(Throwable t) {
        IOException failure =
                t instanceof IOException
                        ? (IOException) t
                        : new IOException(
                                "CreateMultipartUpload of s3://"
                                        + location.bucket()
                                        + "/"
                                        + location.key()
                                        + " failed: "
                                        + S3RequestRetries.describe(t),
                                t);
        List<PartTask> notStarted;
        synchronized (this) {
            starting = null;
            // Under the lock: a part queued from now on sees the failure in dispatch().
            created.completeExceptionally(failure);
            notStarted = new ArrayList<>(waiting);
            waiting.clear();
        }
        for (PartTask task : notStarted) {
            task.result.completeExceptionally(failure);
        }
    }

    /** Adds one unit of {@code s3.part-size} bytes; a part goes out once it has its units. */
    @Override
    public synchronized void submitPart(int unitNumber, UploadSource unit) {
        unitsOfNextPart.add(unit);
        if (unitsOfNextPart.size() >= schedule.unitsInPart(nextPartNumber)) {
            sendNextPart();
        }
    }

    private void sendNextPart() {
        UploadSource part = S3RequestBodies.joined(unitsOfNextPart);
        unitsOfNextPart = new ArrayList<>();
        int partNumber = nextPartNumber++;
        CompletableFuture<CompletedPart> result = new CompletableFuture<>();
        parts.add(result);
        bytes += part.length();
        if (finished) {
            result.cancel(false); // aborted: nothing more goes out
            return;
        }
        if (partNumber > schedule.maxParts()) {
            result.completeExceptionally(schedule.tooManyParts(location));
            return;
        }
        waiting.add(new PartTask(partNumber, part, result));
        dispatch();
    }

    /**
     * Hands waiting parts to the part threads while fewer than {@code s3.parallel-parts} are there.
     */
    private void dispatch() {
        if (created.isCompletedExceptionally()) {
            // The upload could not be started: no part can go out.
            for (PartTask task : waiting) {
                task.result.completeExceptionally(startFailure());
            }
            waiting.clear();
            return;
        }
        if (uploadId == null) {
            return; // still being created: its part thread dispatches once it exists
        }
        while (inFlight < parallel && !waiting.isEmpty()) {
            PartTask task = waiting.poll();
            inFlight++;
            try {
                started.add(context.partExecutor().submit(task));
            } catch (RejectedExecutionException e) {
                inFlight--;
                task.result.completeExceptionally(
                        new IOException(
                                "the S3 part threads refused part "
                                        + task.partNumber
                                        + " of s3://"
                                        + location.bucket()
                                        + "/"
                                        + location.key()
                                        + " (the store is closing)",
                                e));
            }
        }
    }

    private synchronized void partEnded() {
        inFlight--;
        dispatch();
    }

    /** One part on a part thread. */
    private final class PartTask implements Runnable {
        final int partNumber;
        final UploadSource bytes;
        final CompletableFuture<CompletedPart> result;

        PartTask(int partNumber, UploadSource bytes, CompletableFuture<CompletedPart> result) {
            this.partNumber = partNumber;
            this.bytes = bytes;
            this.result = result;
        }

        @Override
        public void run() {
            try {
                // The part thread works for the attempt that started the upload: its deadline.
                result.complete(
                        AttemptDeadline.during(
                                attemptDeadline,
                                () -> requests.uploadPart(uploadId, bytes, partNumber)));
            } catch (Throwable t) {
                result.completeExceptionally(t);
            } finally {
                partEnded();
            }
        }
    }

    @Override
    public Path complete(int lastUnitNumber, UploadSource lastUnit) throws IOException {
        boolean completed = false;
        Throwable failure = null;
        AtomicInteger completionsSent =
                ifAbsentCompletions != null ? ifAbsentCompletions : new AtomicInteger();
        boolean ifAbsent = ifAbsentCompletions != null;
        try {
            List<CompletableFuture<CompletedPart>> all;
            long total;
            synchronized (this) {
                if (lastUnit.length() > 0) {
                    unitsOfNextPart.add(lastUnit);
                }
                if (!unitsOfNextPart.isEmpty() || parts.isEmpty()) {
                    if (unitsOfNextPart.isEmpty()) {
                        unitsOfNextPart.add(lastUnit); // an empty file: one empty part
                    }
                    sendNextPart();
                }
                all = new ArrayList<>(parts);
                total = bytes;
            }
            awaitCreated();
            List<CompletedPart> done = new ArrayList<>(all.size());
            for (CompletableFuture<CompletedPart> f : all) {
                done.add(await(f));
            }
            requests.complete(uploadId, done, total, ifAbsent, completionsSent);
            completed = true;
            synchronized (this) {
                finished = true;
            }
            return location.toPath();
        } catch (IOException | RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            if (!completed) {
                S3Cleanup.suppress(failure, abortReporting());
                if (completionsSent.get() > 0 && !ifAbsent) {
                    // A completion may have gone through unseen: the key is fresh, whatever is
                    // there is ours.
                    S3Cleanup.suppress(
                            failure,
                            context.cleanup().deleteQuietly(location.bucket(), location.key()));
                }
            }
        }
    }

    @Override
    public void abort() {
        abortReporting();
    }

    /** {@link #abort}, returning the abort's failure (already logged) or null. */
    private Exception abortReporting() {
        List<Future<?>> running;
        List<PartTask> notStarted;
        String id;
        Future<?> start;
        synchronized (this) {
            if (finished) {
                return null;
            }
            finished = true;
            running = new ArrayList<>(started);
            notStarted = new ArrayList<>(waiting);
            waiting.clear();
            id = uploadId;
            start = starting;
        }
        for (PartTask t : notStarted) {
            t.result.cancel(false);
        }
        for (Future<?> f : running) {
            f.cancel(true);
        }
        if (id == null) {
            created.completeExceptionally(
                    new InterruptedIOException(
                            "the upload of s3://"
                                    + location.bucket()
                                    + "/"
                                    + location.key()
                                    + " was aborted while it was being started"));
            if (start != null) {
                // Still being created: cancelled, or, once created, aborted by its own thread;
                // a start that fails aborts whatever it may have created under the key.
                start.cancel(true);
            }
            return null;
        }
        return context.cleanup().abortQuietly(location.bucket(), location.key(), id);
    }

    /** Waits until the upload exists; its start's failure is thrown as it was. */
    private void awaitCreated() throws IOException {
        try {
            created.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while the upload was being started");
        } catch (ExecutionException e) {
            throw startFailure();
        } catch (CancellationException e) {
            throw new InterruptedIOException("the start of the upload was cancelled");
        }
    }

    /** The failure of starting the upload, as an IOException carrying the store's message. */
    private IOException startFailure() {
        Throwable c;
        try {
            created.getNow(null);
            return new IOException("the upload was not started");
        } catch (CompletionException e) {
            c = e.getCause();
        } catch (CancellationException e) {
            c = e;
        }
        IOException failure =
                c instanceof IOException
                        ? new IOException(c.getMessage(), c)
                        : new IOException(S3RequestRetries.describe(c), c);
        return failure;
    }

    private static CompletedPart await(CompletableFuture<CompletedPart> f) throws IOException {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for parts");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof IOException) {
                throw (IOException) c;
            }
            if (c instanceof RuntimeException) {
                throw (RuntimeException) c;
            }
            throw new IOException(c);
        } catch (CancellationException e) {
            throw new InterruptedIOException("part upload cancelled");
        }
    }
}
