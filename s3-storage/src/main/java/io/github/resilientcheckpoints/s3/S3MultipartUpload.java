package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.AttemptDeadline;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.SequenceInputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.Iterator;
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
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompletedMultipartUpload;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

/**
 * One multipart upload.
 *
 * <ul>
 *   <li>Parts are built from units of {@code s3.part-size} (what the pipelined writer hands over,
 *       or slices of a whole file) along {@link S3PartSchedule}: later parts join more units, so
 *       S3's 10 000 parts hold files up to 5 TiB although the writer does not know the final size.
 *   <li>At most {@code s3.parallel-parts} parts of this upload are on the store's part threads at a
 *       time; the others wait here, not in the shared queue, so one huge upload never occupies
 *       every part thread while the parts of small files wait behind it.
 *   <li>Each part is retried alone (a failed part never makes the others resend); any failure
 *       aborts the upload so nothing incomplete stays behind.
 *   <li>Non-idempotent requests: a CreateMultipartUpload that needed a resend may have created an
 *       upload whose answer was lost, so every other upload under the (fresh) key is aborted; a
 *       CompleteMultipartUpload whose answer was lost is answered NoSuchUpload on resend, so the
 *       object is looked at (size, part count in the ETag) before that counts as a failure; and an
 *       upload that fails after a completion was sent deletes the key, which may hold the object.
 * </ul>
 *
 * Requests and their retries go through the store's {@link S3RequestRetries}; the abort and the
 * deletes after a failure through its {@link S3Cleanup}, which also works from an interrupted
 * thread.
 */
@ThreadSafe
final class S3MultipartUpload implements SupportsPartUploads.PartUpload {

    private final S3Store store;
    private final S3Location location;

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
            S3Store store,
            S3Location location,
            @Nullable String uploadId,
            @Nullable AtomicInteger ifAbsentCompletions) {
        this.store = store;
        this.location = location;
        this.uploadId = uploadId;
        this.attemptDeadline = AttemptDeadline.current();
        if (uploadId != null) {
            created.complete(uploadId);
        }
        this.ifAbsentCompletions = ifAbsentCompletions;
        this.schedule =
                new S3PartSchedule(store.settings().partSize(), store.settings().maxParts());
        this.parallel = store.settings().parallelParts();
    }

    /** Creates the multipart upload of {@code location} (whose key is final: entropy injected). */
    static S3MultipartUpload start(S3Store store, S3Location location) throws IOException {
        return start(store, location, null);
    }

    /**
     * A multipart upload whose completion is conditional ({@code If-None-Match: *}): the key may be
     * taken, and is never replaced. Counts the completion's attempts in {@code completions}.
     */
    static S3MultipartUpload startIfAbsent(
            S3Store store, S3Location location, AtomicInteger completions) throws IOException {
        return start(store, location, completions);
    }

    private static S3MultipartUpload start(
            S3Store store, S3Location location, @Nullable AtomicInteger ifAbsentCompletions)
            throws IOException {
        return new S3MultipartUpload(store, location, create(store, location), ifAbsentCompletions);
    }

    /**
     * A multipart upload of {@code location} (whose key is final) that starts in the background:
     * the bucket check and CreateMultipartUpload, with their resends, run on a part thread, and
     * this returns at once, so the caller (a snapshot writer) never waits on S3 to start. Parts
     * queue until the upload exists; a failure to start it fails every part and surfaces at {@link
     * #complete}.
     */
    static S3MultipartUpload startInBackground(S3Store store, S3Location location)
            throws IOException {
        S3MultipartUpload upload = new S3MultipartUpload(store, location, null, null);
        synchronized (upload) {
            try {
                upload.starting = store.partExecutor().submit(upload::createInBackground);
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
            store.bucketCheck().ensureBucket(location.bucket());
            id = create(store, location);
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
            store.cleanup().abortQuietly(location.bucket(), location.key(), id);
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

    /** CreateMultipartUpload with its resends; returns the upload id. */
    private static String create(S3Store store, S3Location location) throws IOException {
        String bucket = location.bucket();
        String key = location.key();
        AtomicInteger sent = new AtomicInteger();
        String uploadId;
        try {
            uploadId =
                    store.retries()
                            .send(
                                    "CreateMultipartUpload",
                                    bucket,
                                    key,
                                    S3RequestRetries.Payload.NONE,
                                    o -> {
                                        sent.incrementAndGet();
                                        return store.client()
                                                .createMultipartUpload(
                                                        b ->
                                                                b.bucket(bucket)
                                                                        .key(key)
                                                                        .overrideConfiguration(o)
                                                                        .checksumAlgorithm(
                                                                                ChecksumAlgorithm
                                                                                        .CRC32_C))
                                                .uploadId();
                                    });
        } catch (IOException | RuntimeException e) {
            // S3 may have created the upload although its answer never reached us (the thread was
            // interrupted by a cancel, the connection reset): nobody would know its id, and it
            // would
            // stay pending, billed. The key is fresh, so whatever is pending under it is ours.
            store.cleanup().abortUploadsOfKeyLater(location, null);
            throw e;
        }
        if (sent.get() > 1) {
            // An earlier attempt may have created an upload whose answer was lost.
            store.cleanup().abortUploadsOfKeyLater(location, uploadId);
        }
        return uploadId;
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
        UploadSource part = joined(unitsOfNextPart);
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
            result.completeExceptionally(
                    new IOException(
                            "Upload of s3://"
                                    + location.bucket()
                                    + "/"
                                    + location.key()
                                    + " needs more than S3's "
                                    + schedule.maxParts()
                                    + " parts: the file is larger than "
                                    + schedule.capacityBytes()
                                    + " bytes, the most that parts growing from '"
                                    + S3StoreOptions.PART_SIZE.key()
                                    + "' ("
                                    + schedule.unitBytes()
                                    + " bytes) hold: raise '"
                                    + S3StoreOptions.PART_SIZE.key()
                                    + "'"));
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
                started.add(store.partExecutor().submit(task));
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
                                attemptDeadline, () -> uploadPart(bytes, partNumber)));
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
            store.retries()
                    .send(
                            "CompleteMultipartUpload",
                            location.bucket(),
                            location.key(),
                            S3RequestRetries.Payload.NONE,
                            o -> {
                                boolean resend = completionsSent.incrementAndGet() > 1;
                                try {
                                    return store.client()
                                            .completeMultipartUpload(
                                                    b ->
                                                            b.bucket(location.bucket())
                                                                    .key(location.key())
                                                                    .overrideConfiguration(o)
                                                                    .uploadId(uploadId)
                                                                    .ifNoneMatch(
                                                                            ifAbsent ? "*" : null)
                                                                    .multipartUpload(
                                                                            CompletedMultipartUpload
                                                                                    .builder()
                                                                                    .parts(done)
                                                                                    .build()));
                                } catch (S3Exception e) {
                                    if (resend
                                            && isNoSuchUpload(e)
                                            && completedEarlier(total, done.size())) {
                                        return null; // the earlier request completed it; its answer
                                        // was
                                        // lost
                                    }
                                    throw e;
                                }
                            });
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
                            store.cleanup().deleteQuietly(location.bucket(), location.key()));
                }
            }
        }
    }

    private static boolean isNoSuchUpload(S3Exception e) {
        return "NoSuchUpload".equals(S3Failures.errorCode(e));
    }

    /**
     * Whether the object under this (fresh) key is the one this upload's parts make: its size, and
     * the part count S3 puts in a multipart object's ETag ({@code "…-N"}) where there is one.
     */
    private boolean completedEarlier(long total, int partCount) {
        HeadObjectResponse head;
        try {
            head = store.client().headObject(b -> b.bucket(location.bucket()).key(location.key()));
        } catch (RuntimeException e) {
            return false;
        }
        String eTag = head.eTag() == null ? "" : head.eTag().replace("\"", "");
        int dash = eTag.lastIndexOf('-');
        boolean partsMatch = dash < 0 || eTag.substring(dash + 1).equals(String.valueOf(partCount));
        return head.contentLength() != null && head.contentLength() == total && partsMatch;
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
        return store.cleanup().abortQuietly(location.bucket(), location.key(), id);
    }

    /** One part, retried alone. */
    private CompletedPart uploadPart(UploadSource bytes, int partNumber) throws IOException {
        long size = bytes.length();
        UploadPartResponse r =
                store.retries()
                        .send(
                                "UploadPart " + partNumber,
                                location.bucket(),
                                location.key(),
                                S3RequestRetries.Payload.PART_BYTES,
                                o -> {
                                    store.retries().counters().dataRequestSent();
                                    UploadPartResponse answer =
                                            store.client()
                                                    .uploadPart(
                                                            b ->
                                                                    b.bucket(location.bucket())
                                                                            .key(location.key())
                                                                            .overrideConfiguration(
                                                                                    o)
                                                                            .uploadId(uploadId)
                                                                            .partNumber(partNumber)
                                                                            .contentLength(size)
                                                                            .checksumAlgorithm(
                                                                                    ChecksumAlgorithm
                                                                                            .CRC32_C),
                                                            RequestBody.fromContentProvider(
                                                                    () ->
                                                                            S3RequestBodies.range(
                                                                                    bytes, 0, size),
                                                                    size,
                                                                    "application/octet-stream"));
                                    if (!isWholeETag(answer.eTag())) {
                                        // A cut answer whose head the HTTP client took as whole:
                                        // completing with it fails for good (InvalidPart).
                                        throw SdkClientException.create(
                                                "the answer to UploadPart "
                                                        + partNumber
                                                        + " carried no complete ETag ("
                                                        + answer.eTag()
                                                        + "): it was cut short");
                                    }
                                    return answer;
                                });
        return CompletedPart.builder()
                .partNumber(partNumber)
                .eTag(r.eTag())
                .checksumCRC32C(r.checksumCRC32C())
                .build();
    }

    /** An ETag as S3 sends it: present and, when quoted, with both quotes. */
    static boolean isWholeETag(@Nullable String eTag) {
        if (eTag == null || eTag.isBlank()) {
            return false;
        }
        return !eTag.startsWith("\"") || (eTag.length() >= 2 && eTag.endsWith("\""));
    }

    /** Consecutive units as one source; each unit is opened only when the previous one is read. */
    private static UploadSource joined(List<UploadSource> units) {
        if (units.size() == 1) {
            return units.get(0);
        }
        List<UploadSource> copy = List.copyOf(units);
        long length = 0;
        for (UploadSource u : copy) {
            length += u.length();
        }
        long total = length;
        return new UploadSource() {
            @Override
            public long length() {
                return total;
            }

            @Override
            public InputStream open() {
                Iterator<UploadSource> next = copy.iterator();
                return new SequenceInputStream(
                        new Enumeration<InputStream>() {
                            @Override
                            public boolean hasMoreElements() {
                                return next.hasNext();
                            }

                            @Override
                            public InputStream nextElement() {
                                UploadSource u = next.next();
                                return S3RequestBodies.range(u, 0, u.length());
                            }
                        });
            }
        };
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
