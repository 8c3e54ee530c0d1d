package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.UploadSource;

import org.apache.flink.core.fs.Path;

import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompletedMultipartUpload;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;

/**
 * One multipart upload: parts go out on the store's part threads, at most {@code s3.parallel-parts}
 * at a time, each retried alone (a failed part never makes the others resend); any failure aborts
 * the upload so nothing incomplete stays behind. Requests, their retries and the abort are the
 * store's ({@link S3Store#withRequestRetries}, {@link S3Store#abortQuietly}, which also works from
 * an interrupted thread).
 */
final class S3MultipartUpload implements SupportsPartUploads.PartUpload {

    private final S3Store store;
    private final S3Location location;
    private final String uploadId;
    private final Semaphore parallel;
    private final List<Future<CompletedPart>> parts = new ArrayList<>();
    private boolean finished;

    private S3MultipartUpload(S3Store store, S3Location location, String uploadId) {
        this.store = store;
        this.location = location;
        this.uploadId = uploadId;
        this.parallel = new Semaphore(store.settings().parallelParts());
    }

    /** Creates the multipart upload of {@code location} (whose key is final: entropy injected). */
    static S3MultipartUpload start(S3Store store, S3Location location) throws IOException {
        String bucket = location.bucket();
        String key = location.key();
        String uploadId;
        try {
            uploadId = store.withRequestRetries("CreateMultipartUpload", bucket, key, false,
                    () -> store.client().createMultipartUpload(
                            b -> b.bucket(bucket).key(key).checksumAlgorithm(ChecksumAlgorithm.CRC32_C)).uploadId());
        } catch (IOException | RuntimeException e) {
            // S3 may have created the upload although its answer never reached us (the thread was
            // interrupted by a cancel, the connection reset): nobody would know its id, and it would
            // stay pending, billed. The key is fresh, so whatever is pending under it is ours.
            store.abortUploadsOfKeyLater(location);
            throw e;
        }
        return new S3MultipartUpload(store, location, uploadId);
    }

    @Override
    public synchronized void submitPart(int partNumber, UploadSource bytes) {
        parts.add(store.partExecutor().submit(() -> {
            acquire(parallel);
            try {
                return uploadPart(bytes, partNumber);
            } finally {
                parallel.release();
            }
        }));
    }

    @Override
    public Path complete(int lastPartNumber, UploadSource lastPart) throws IOException {
        boolean completed = false;
        try {
            if (lastPart.length() > 0 || lastPartNumber == 1) {
                submitPart(lastPartNumber, lastPart);
            }
            List<Future<CompletedPart>> all;
            synchronized (this) {
                all = new ArrayList<>(parts);
            }
            List<CompletedPart> done = new ArrayList<>(all.size());
            for (Future<CompletedPart> f : all) {
                done.add(await(f));
            }
            store.withRequestRetries("CompleteMultipartUpload", location.bucket(), location.key(), false,
                    () -> store.client().completeMultipartUpload(
                            b -> b.bucket(location.bucket()).key(location.key()).uploadId(uploadId)
                                    .multipartUpload(CompletedMultipartUpload.builder().parts(done).build())));
            completed = true;
            synchronized (this) {
                finished = true;
            }
            return location.toPath();
        } finally {
            if (!completed) {
                abort();
            }
        }
    }

    @Override
    public void abort() {
        List<Future<CompletedPart>> all;
        synchronized (this) {
            if (finished) {
                return;
            }
            finished = true;
            all = new ArrayList<>(parts);
        }
        for (Future<CompletedPart> f : all) {
            f.cancel(true);
        }
        store.abortQuietly(location.bucket(), location.key(), uploadId);
    }

    /** One part, retried alone. */
    private CompletedPart uploadPart(UploadSource bytes, int partNumber) throws IOException {
        long size = bytes.length();
        UploadPartResponse r = store.withRequestRetries("UploadPart " + partNumber, location.bucket(), location.key(),
                true, () -> {
                    store.dataRequestSent();
                    return store.client().uploadPart(b -> b.bucket(location.bucket()).key(location.key())
                                    .uploadId(uploadId).partNumber(partNumber).contentLength(size)
                                    .checksumAlgorithm(ChecksumAlgorithm.CRC32_C),
                            RequestBody.fromContentProvider(() -> S3Store.range(bytes, 0, size), size,
                                    "application/octet-stream"));
                });
        return CompletedPart.builder().partNumber(partNumber).eTag(r.eTag())
                .checksumCRC32C(r.checksumCRC32C()).build();
    }

    private static void acquire(Semaphore s) throws InterruptedIOException {
        try {
            s.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to send a part");
        }
    }

    private static CompletedPart await(Future<CompletedPart> f) throws IOException {
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
