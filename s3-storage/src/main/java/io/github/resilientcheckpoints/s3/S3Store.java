package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CleanupExecutor;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.StoreRequestCounters;
import io.github.resilientcheckpoints.store.StoreRequestListener;
import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsBatchDelete;
import io.github.resilientcheckpoints.store.SupportsListing;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.SupportsPendingUploads;
import io.github.resilientcheckpoints.store.SupportsRequestEvents;
import io.github.resilientcheckpoints.store.SupportsThrottleSignals;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.annotation.Nullable;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.core.exception.AbortedException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.Delete;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.ListMultipartUploadsResponse;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.NoSuchUploadException;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.S3Error;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The S3 store on AWS SDK v2.
 *
 * <ul>
 *   <li>Files below the multipart threshold: one {@code PutObject}. Larger ones: a multipart upload
 *       whose parts go out in parallel, each read straight from the staged source (no copy in
 *       memory beyond the part in flight), each retried alone on failure; a failed or interrupted
 *       upload is aborted so no incomplete upload is left behind (an abort failure is logged; the
 *       cleanup sweep finds what is left).
 *   <li>Cleanup on cancelled threads: aborts and deletes of abandoned data go through a {@link
 *       CleanupExecutor}, so an interrupted (cancelled) thread cannot make the SDK refuse them.
 *   <li>Integrity: every request carries a CRC32C checksum that S3 verifies; a mismatch fails that
 *       request, which is resent.
 *   <li>Retries: the SDK's own retries are off. Parts are retried here ({@code s3.part-attempts});
 *       whole files by the storage's retry loop, which also bounds everything by the deadline.
 *   <li>Throttling: every 503 SlowDown / 429 absorbed by a part retry is reported to the throttle.
 *   <li>Entropy: Flink's {@code s3.entropy.key} in a data file key is replaced by random
 *       characters, as Flink does; the handle carries the real key.
 * </ul>
 */
public final class S3Store
        implements CheckpointStore,
                SupportsListing,
                SupportsBatchDelete,
                SupportsPendingUploads,
                SupportsThrottleSignals,
                SupportsRequestEvents,
                SupportsPartUploads {

    private static final Logger LOG = LoggerFactory.getLogger(S3Store.class);

    static final int MAX_DELETE_BATCH = 1000;
    private static final char[] ENTROPY_ALPHABET =
            "abcdefghijklmnopqrstuvwxyz0123456789".toCharArray();

    /**
     * Settings of the store (sizes in bytes). {@code maxParts} is S3's limit of parts per upload
     * (10 000); tests lower it to reach the limit with small files.
     */
    public record Settings(
            long multipartThreshold,
            long partSize,
            int parallelParts,
            int partAttempts,
            String entropyKey,
            int entropyLength,
            int maxParts) {

        public Settings(
                long multipartThreshold,
                long partSize,
                int parallelParts,
                int partAttempts,
                String entropyKey,
                int entropyLength) {
            this(
                    multipartThreshold,
                    partSize,
                    parallelParts,
                    partAttempts,
                    entropyKey,
                    entropyLength,
                    S3PartSchedule.S3_MAX_PARTS);
        }

        public Settings {
            if (partSize < 5L << 20 && partSize != multipartThreshold) {
                // S3 refuses parts under 5 MiB (except the last); tests may lower both together.
                LOG.warn("s3 part size {} is below the S3 minimum of 5 MiB", partSize);
            }
            if (parallelParts < 1 || partAttempts < 1 || partSize < 1) {
                throw new IllegalArgumentException(
                        "invalid S3 settings: " + parallelParts + ", " + partAttempts);
            }
        }
    }

    private final S3Client client;
    private final Settings settings;
    private final ExecutorService partExecutor;
    private final SecureRandom random = new SecureRandom();
    private volatile Runnable throttleListener = () -> {};
    private final Set<String> verifiedBuckets = ConcurrentHashMap.newKeySet();
    private final StoreRequestCounters requests = new StoreRequestCounters();

    /**
     * Aborts and deletes of abandoned data: they must work on interrupted (cancelled) threads too.
     */
    private final CleanupExecutor cleanup =
            new CleanupExecutor(
                    "rcs-s3-cleanup", S3Store.class.getClassLoader(), 4, Duration.ofSeconds(30));

    /**
     * Resends of one request: {@code s3.part-attempts}, backoff with full jitter from 100 ms to 2
     * s.
     */
    private final RetryPolicy requestPolicy;

    private final Ticker ticker;
    private final Sleeper sleeper;

    /** The store owns {@code client} and {@code partExecutor} and closes both. */
    public S3Store(S3Client client, Settings settings, ExecutorService partExecutor) {
        this(client, settings, partExecutor, Ticker.SYSTEM, Sleeper.SYSTEM);
    }

    /** With the clock and the waits of the request retries injected (tests). */
    S3Store(
            S3Client client,
            Settings settings,
            ExecutorService partExecutor,
            Ticker ticker,
            Sleeper sleeper) {
        this.client = client;
        this.settings = settings;
        this.partExecutor = partExecutor;
        this.ticker = ticker;
        this.sleeper = sleeper;
        // The attempt timeout is the SDK's (s3.request-timeout); the deadline is the storage's.
        this.requestPolicy =
                new RetryPolicy(
                        settings.partAttempts(),
                        Duration.ofMillis(100),
                        Duration.ofSeconds(2),
                        Duration.ofDays(1));
    }

    // ------------------------------------------------------------------ upload

    @Override
    public Path upload(UploadSource source, Path target) throws IOException {
        S3Location location = S3Location.of(target);
        ensureBucket(location.bucket());
        S3Location written = location.withKey(injectEntropy(location.key()));
        if (source.length() < settings.multipartThreshold()) {
            put(source, written.bucket(), written.key());
        } else {
            multipart(source, written);
        }
        return written.toPath();
    }

    /** The target with entropy injected ({@code s3.entropy.key}); {@link #upload} then keeps it. */
    @Override
    public Path resolveTarget(Path target) {
        S3Location location = S3Location.of(target);
        String injected = injectEntropy(location.key());
        return injected.equals(location.key()) ? target : location.withKey(injected).toPath();
    }

    /**
     * Checks once per bucket that it exists. S3 may answer a PutObject to a missing bucket before
     * reading its body and close the connection, which the client then reports as a broken
     * connection: without this check a missing bucket would look transient.
     *
     * <p>Only a 404 (NoSuchBucket) is conclusive. A 403 is not: least-privilege policies grant
     * s3:PutObject and the multipart actions but withhold s3:ListBucket (or grant it for a prefix
     * only), and HeadBucket then answers 403 to credentials that can write every checkpoint file. A
     * 403 is looked into once with a listing request, whose answer has a body: when it says the
     * credentials themselves are wrong, that is conclusive; otherwise the uploads find out.
     */
    private void ensureBucket(String bucket) throws IOException {
        if (verifiedBuckets.contains(bucket)) {
            return;
        }
        try {
            client.headBucket(b -> b.bucket(bucket));
            verifiedBuckets.add(bucket);
        } catch (S3Exception e) {
            if (e.statusCode() == 404) {
                throw new BucketUnusableException(
                        "NoSuchBucket: bucket '"
                                + bucket
                                + "' does not exist: create it"
                                + " or correct the bucket in 'execution.checkpointing.dir'",
                        e);
            }
            if (e.statusCode() == 403) {
                rejectWrongCredentials(bucket, e);
                LOG.debug(
                        "HeadBucket of '{}' was refused (403); a policy may withhold s3:ListBucket while"
                                + " allowing writes, so the uploads go ahead",
                        bucket);
                verifiedBuckets.add(bucket);
            }
            // anything else: let the upload itself find out
        } catch (RuntimeException e) {
            if (S3Failures.isCredentialLoadingFailure(e)) {
                throw S3Failures.wrap("HeadBucket", bucket, "", e);
            }
            // connection trouble: the upload's own retries deal with it
        }
    }

    /**
     * A HEAD answer has no body, so a 403 does not say whether the credentials are wrong or merely
     * not allowed to list: one listing request (same permission, s3:ListBucket) brings the error
     * code.
     */
    private void rejectWrongCredentials(String bucket, S3Exception head)
            throws BucketUnusableException {
        S3Exception detail;
        try {
            client.listObjectsV2(b -> b.bucket(bucket).maxKeys(1));
            return;
        } catch (S3Exception e) {
            detail = e;
        } catch (RuntimeException e) {
            return;
        }
        String code =
                detail.awsErrorDetails() == null ? null : detail.awsErrorDetails().errorCode();
        if ("InvalidAccessKeyId".equals(code) || "SignatureDoesNotMatch".equals(code)) {
            detail.addSuppressed(head);
            throw new BucketUnusableException(
                    code
                            + ": S3 rejected the credentials used for bucket '"
                            + bucket
                            + "': check "
                            + S3Failures.CREDENTIAL_KEYS,
                    detail);
        }
    }

    /** The bucket is missing or forbidden: permanent. */
    static final class BucketUnusableException extends IOException {
        private static final long serialVersionUID = 1L;

        BucketUnusableException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private void put(UploadSource source, String bucket, String key) throws IOException {
        boolean done = false;
        Throwable failure = null;
        try {
            withRequestRetries(
                    "PutObject",
                    bucket,
                    key,
                    Payload.OBJECT_BYTES,
                    () -> {
                        requests.dataRequestSent();
                        return client.putObject(
                                b ->
                                        b.bucket(bucket)
                                                .key(key)
                                                .checksumAlgorithm(ChecksumAlgorithm.CRC32_C),
                                RequestBody.fromContentProvider(
                                        () -> open(source),
                                        source.length(),
                                        "application/octet-stream"));
                    });
            done = true;
        } catch (IOException | RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            if (!done) {
                // A server may keep what arrived before a broken body; nothing partial may stay.
                suppress(failure, deleteQuietly(bucket, key));
            }
        }
    }

    /** Deletes what a failed upload may have left; returns the failure (logged) or null. */
    @Nullable
    Exception deleteQuietly(String bucket, String key) {
        try {
            cleanup.call(
                    "DeleteObject of s3://" + bucket + "/" + key,
                    () -> {
                        requests.deleteRequestSent();
                        return client.deleteObject(b -> b.bucket(bucket).key(key));
                    });
            return null;
        } catch (IOException | RuntimeException e) {
            LOG.debug("Could not delete s3://{}/{} after a failed upload", bucket, key, e);
            return e;
        }
    }

    /** What a request carries: decides how a 403 is read and which counter a resend goes to. */
    enum Payload {
        /** No file bytes (start or completion of a multipart upload). */
        NONE,
        /** A whole small file (PutObject). */
        OBJECT_BYTES,
        /**
         * A part of a multipart upload that these credentials already created: a signature
         * rejection (403) then means the signed body changed in transit, not bad credentials, and
         * the part is resent.
         */
        PART_BYTES
    }

    /**
     * Sends one request, resending it alone (up to {@code s3.part-attempts}) on a retryable
     * failure; throttle signals and resends are reported. A permanent failure or an interrupt ends
     * it at once.
     */
    <T> T withRequestRetries(
            String operation, String bucket, String key, Payload payload, Supplier<T> request)
            throws IOException {
        long noDeadline = ticker.nanoTime() + Duration.ofDays(1).toNanos();
        for (int attempt = 1; ; attempt++) {
            if (Thread.currentThread().isInterrupted()) {
                throw new InterruptedIOException(
                        operation + " of s3://" + bucket + "/" + key + " was cancelled");
            }
            try {
                return request.get();
            } catch (RuntimeException e) {
                SourceFailure sourceFailure = sourceFailure(e);
                if (sourceFailure != null) {
                    // The staged bytes could not be read, not S3's fault: resending cannot help.
                    throw new IOException(
                            operation
                                    + " of s3://"
                                    + bucket
                                    + "/"
                                    + key
                                    + " failed reading the staged bytes: "
                                    + sourceFailure.getMessage(),
                            sourceFailure);
                }
                IOException failure = S3Failures.wrap(operation, bucket, key, e);
                FailureClass c = S3Failures.classify(e);
                if (payload == Payload.PART_BYTES
                        && e instanceof S3Exception
                        && ((S3Exception) e).statusCode() == 403) {
                    c = FailureClass.TRANSIENT;
                }
                if (isInterrupt(e)) {
                    throw failure;
                }
                if (c == FailureClass.THROTTLED) {
                    requests.throttledResponse();
                    throttleListener.run();
                }
                RetryPolicy.Decision next =
                        requestPolicy.onFailure(
                                attempt,
                                c,
                                ticker.nanoTime(),
                                noDeadline,
                                ThreadLocalRandom.current()::nextDouble);
                if (!next.retry()) {
                    if (S3Failures.isExpiredCredentials(e)) {
                        // The SDK resolved the credentials again for every resend: the provider did
                        // not refresh.
                        throw new S3Failures.ExpiredCredentials(
                                operation, bucket, key, attempt, (S3Exception) e);
                    }
                    throw failure;
                }
                LOG.debug(
                        "{} of s3://{}/{} failed on attempt {} ({}): {}; resending",
                        operation,
                        bucket,
                        key,
                        attempt,
                        c,
                        e.toString());
                if (payload != Payload.NONE) {
                    requests.dataRequestRetried();
                } else {
                    requests.otherRequestRetried();
                }
                pause(next.delayNanos());
            }
        }
    }

    private static boolean isInterrupt(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof InterruptedException
                    || t instanceof InterruptedIOException
                    || t instanceof AbortedException) {
                return true;
            }
        }
        return Thread.currentThread().isInterrupted();
    }

    private static InputStream open(UploadSource source) {
        return range(source, 0, source.length());
    }

    /** A failure of the staged source (local disk), marked so it is never mistaken for S3's. */
    static final class SourceFailure extends IOException {
        private static final long serialVersionUID = 1L;

        SourceFailure(IOException cause) {
            super(cause.getMessage(), cause);
        }
    }

    private static SourceFailure sourceFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof SourceFailure) {
                return (SourceFailure) t;
            }
        }
        return null;
    }

    private void multipart(UploadSource source, S3Location location) throws IOException {
        long length = source.length();
        int parts = (int) Math.max(1, (length + settings.partSize() - 1) / settings.partSize());
        S3MultipartUpload upload = S3MultipartUpload.start(this, location);
        for (int i = 1; i < parts; i++) {
            upload.submitPart(i, slice(source, (i - 1) * settings.partSize(), settings.partSize()));
        }
        long lastOffset = (long) (parts - 1) * settings.partSize();
        upload.complete(parts, slice(source, lastOffset, length - lastOffset));
    }

    @Override
    public long partSize() {
        return settings.partSize();
    }

    @Override
    public long pipelineThreshold() {
        return Math.max(settings.partSize(), settings.multipartThreshold());
    }

    @Override
    public PartUpload startPartUpload(Path target) throws IOException {
        S3Location location = S3Location.of(target);
        ensureBucket(location.bucket());
        return S3MultipartUpload.start(this, location.withKey(injectEntropy(location.key())));
    }

    S3Client client() {
        return client;
    }

    ExecutorService partExecutor() {
        return partExecutor;
    }

    Settings settings() {
        return settings;
    }

    /** Counts one request that carried object bytes. */
    void dataRequestSent() {
        requests.dataRequestSent();
    }

    /** The bytes [offset, offset+size) of a source, as a source. */
    static UploadSource slice(UploadSource source, long offset, long size) {
        return new UploadSource() {
            @Override
            public long length() {
                return size;
            }

            @Override
            public InputStream open() {
                return range(source, offset, size);
            }
        };
    }

    /** How long after a failed CreateMultipartUpload its key is looked at once more. */
    static final long ORPHAN_RECHECK_MILLIS = 2000;

    /**
     * Aborts, on a cleanup thread, every multipart upload pending under exactly this (fresh) key
     * but {@code keep}: now, and once more a little later for a request that was still on its way.
     */
    void abortUploadsOfKeyLater(S3Location location, @Nullable String keep) {
        cleanup.runLater(
                () -> {
                    for (int pass = 0; pass < 2; pass++) {
                        try {
                            if (pass > 0) {
                                Thread.sleep(ORPHAN_RECHECK_MILLIS);
                            }
                            for (MultipartUpload u :
                                    client.listMultipartUploads(
                                                    b ->
                                                            b.bucket(location.bucket())
                                                                    .prefix(location.key()))
                                            .uploads()) {
                                if (u.key().equals(location.key()) && !u.uploadId().equals(keep)) {
                                    abortQuietly(location.bucket(), location.key(), u.uploadId());
                                }
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return;
                        } catch (RuntimeException e) {
                            LOG.debug(
                                    "Could not look for multipart uploads left under s3://{}/{}",
                                    location.bucket(),
                                    location.key(),
                                    e);
                        }
                    }
                });
    }

    /**
     * Aborts a multipart upload; a failure is logged and returned (the cleanup sweep finds what is
     * left; callers attach it to their own failure as suppressed).
     */
    @Nullable
    Exception abortQuietly(String bucket, String key, String uploadId) {
        try {
            abortUpload(bucket, key, uploadId);
            return null;
        } catch (IOException | RuntimeException e) {
            LOG.warn(
                    "Could not abort multipart upload {} of s3://{}/{}: {}",
                    uploadId,
                    bucket,
                    key,
                    e.toString());
            return e;
        }
    }

    /** Attaches a cleanup failure to the failure it cleaned up after. */
    static void suppress(@Nullable Throwable failure, @Nullable Exception cleanupFailure) {
        if (failure != null && cleanupFailure != null && failure != cleanupFailure) {
            failure.addSuppressed(cleanupFailure);
        }
    }

    /** Aborts a multipart upload, also from an interrupted thread; one already gone is fine. */
    private void abortUpload(String bucket, String key, String uploadId) throws IOException {
        cleanup.call(
                "AbortMultipartUpload of s3://" + bucket + "/" + key,
                () -> {
                    try {
                        return client.abortMultipartUpload(
                                b -> b.bucket(bucket).key(key).uploadId(uploadId));
                    } catch (NoSuchUploadException gone) {
                        return null; // already completed or aborted
                    } catch (RuntimeException e) {
                        throw S3Failures.wrap("AbortMultipartUpload", bucket, key, e);
                    }
                });
    }

    /**
     * Bytes [offset, offset+size) of the source; its read failures are marked as {@link
     * SourceFailure}.
     */
    static InputStream range(UploadSource source, long offset, long size) {
        InputStream in;
        try {
            in = source.open();
            in.skipNBytes(offset);
        } catch (IOException e) {
            throw new UncheckedIOException(new SourceFailure(e));
        }
        return new FilterInputStream(in) {
            long left = size;

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (left <= 0) {
                    return -1;
                }
                int n;
                try {
                    n = super.read(b, off, (int) Math.min(len, left));
                } catch (IOException e) {
                    throw new SourceFailure(e);
                }
                if (n > 0) {
                    left -= n;
                }
                return n;
            }
        };
    }

    private void pause(long nanos) throws InterruptedIOException {
        try {
            sleeper.sleepNanos(nanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted between S3 request attempts");
        }
    }

    private String injectEntropy(String key) {
        String marker = settings.entropyKey();
        if (marker == null || marker.isEmpty() || !key.contains(marker)) {
            return key;
        }
        char[] chars = new char[settings.entropyLength()];
        for (int i = 0; i < chars.length; i++) {
            chars[i] = ENTROPY_ALPHABET[random.nextInt(ENTROPY_ALPHABET.length)];
        }
        return key.replace(marker, new String(chars));
    }

    // ------------------------------------------------------------------ delete, list, pending

    @Override
    public void delete(Path path) throws IOException {
        S3Location location = S3Location.of(path);
        String bucket = location.bucket();
        String key = location.key();
        // Abandoned attempts are deleted from their own, interrupted thread.
        cleanup.call(
                "DeleteObject of " + path,
                () -> {
                    try {
                        requests.deleteRequestSent();
                        return client.deleteObject(b -> b.bucket(bucket).key(key));
                    } catch (RuntimeException e) {
                        throw S3Failures.wrap("DeleteObject", bucket, key, e);
                    }
                });
    }

    /**
     * DeleteObjects in batches of up to 1000 keys; keys S3 reports as failed, and failed requests,
     * are resent as the request policy says ({@code s3.part-attempts}, with backoff).
     */
    @Override
    public List<Path> deleteAll(Collection<Path> paths) throws IOException {
        // bucket -> key -> the path as given (failures are reported as given, scheme included)
        Map<String, Map<String, Path>> byBucket = new LinkedHashMap<>();
        for (Path p : paths) {
            S3Location l = S3Location.of(p);
            byBucket.computeIfAbsent(l.bucket(), b -> new LinkedHashMap<>())
                    .putIfAbsent(l.key(), p);
        }
        List<Path> failed = new ArrayList<>();
        for (Map.Entry<String, Map<String, Path>> e : byBucket.entrySet()) {
            List<String> keys = new ArrayList<>(e.getValue().keySet());
            for (int from = 0; from < keys.size(); from += MAX_DELETE_BATCH) {
                List<String> batch =
                        keys.subList(from, Math.min(keys.size(), from + MAX_DELETE_BATCH));
                for (String key : deleteBatch(e.getKey(), batch)) {
                    failed.add(e.getValue().get(key));
                }
            }
        }
        return failed;
    }

    private List<String> deleteBatch(String bucket, List<String> keys) throws IOException {
        List<String> pending = keys;
        long noDeadline = ticker.nanoTime() + Duration.ofDays(1).toNanos();
        for (int attempt = 1; !pending.isEmpty(); attempt++) {
            List<ObjectIdentifier> ids = new ArrayList<>(pending.size());
            for (String k : pending) {
                ids.add(ObjectIdentifier.builder().key(k).build());
            }
            FailureClass failureClass;
            try {
                requests.deleteRequestSent();
                DeleteObjectsResponse r =
                        client.deleteObjects(
                                b ->
                                        b.bucket(bucket)
                                                .delete(
                                                        Delete.builder()
                                                                .objects(ids)
                                                                .quiet(true)
                                                                .build()));
                List<String> again = new ArrayList<>();
                for (S3Error err : r.errors()) {
                    again.add(err.key());
                }
                pending = again;
                failureClass = FailureClass.TRANSIENT;
            } catch (RuntimeException ex) {
                failureClass = S3Failures.classify(ex);
                RetryPolicy.Decision next =
                        requestPolicy.onFailure(
                                attempt,
                                failureClass,
                                ticker.nanoTime(),
                                noDeadline,
                                ThreadLocalRandom.current()::nextDouble);
                if (!next.retry()) {
                    throw S3Failures.wrap(
                            "DeleteObjects (" + pending.size() + " keys)",
                            bucket,
                            pending.get(0),
                            ex);
                }
                requests.otherRequestRetried();
                pause(next.delayNanos());
                continue;
            }
            if (pending.isEmpty()) {
                break;
            }
            RetryPolicy.Decision next =
                    requestPolicy.onFailure(
                            attempt,
                            failureClass,
                            ticker.nanoTime(),
                            noDeadline,
                            ThreadLocalRandom.current()::nextDouble);
            if (!next.retry()) {
                break; // reported to the caller as not deleted
            }
            requests.otherRequestRetried();
            pause(next.delayNanos());
        }
        return pending;
    }

    @Override
    public List<StoredFile> listFiles(Path directory) throws IOException {
        S3Location dir = S3Location.of(directory);
        String bucket = dir.bucket();
        String prefix = dir.prefix();
        List<StoredFile> files = new ArrayList<>();
        try {
            for (S3Object o :
                    client.listObjectsV2Paginator(b -> b.bucket(bucket).prefix(prefix))
                            .contents()) {
                files.add(
                        new StoredFile(
                                dir.withKey(o.key()).toPath(),
                                o.size(),
                                o.lastModified().toEpochMilli()));
            }
        } catch (RuntimeException e) {
            throw S3Failures.wrap("ListObjectsV2", bucket, prefix, e);
        }
        return files;
    }

    @Override
    public List<PendingUpload> listPendingUploads(Path directory) throws IOException {
        S3Location dir = S3Location.of(directory);
        String bucket = dir.bucket();
        String prefix = dir.prefix();
        List<PendingUpload> uploads = new ArrayList<>();
        try {
            String keyMarker = null;
            String idMarker = null;
            while (true) {
                String km = keyMarker;
                String im = idMarker;
                ListMultipartUploadsResponse r =
                        client.listMultipartUploads(
                                b ->
                                        b.bucket(bucket)
                                                .prefix(prefix)
                                                .keyMarker(km)
                                                .uploadIdMarker(im));
                for (MultipartUpload u : r.uploads()) {
                    uploads.add(
                            new PendingUpload(
                                    dir.withKey(u.key()).toPath(),
                                    u.uploadId(),
                                    u.initiated().toEpochMilli()));
                }
                if (!Boolean.TRUE.equals(r.isTruncated())) {
                    return uploads;
                }
                keyMarker = r.nextKeyMarker();
                idMarker = r.nextUploadIdMarker();
            }
        } catch (RuntimeException e) {
            throw S3Failures.wrap("ListMultipartUploads", bucket, prefix, e);
        }
    }

    @Override
    public void abortPendingUpload(PendingUpload upload) throws IOException {
        S3Location location = S3Location.of(upload.path());
        abortUpload(location.bucket(), location.key(), upload.uploadId());
    }

    // ------------------------------------------------------------------ the rest

    @Override
    public void onThrottleSignal(Runnable listener) {
        this.throttleListener = listener;
    }

    @Override
    public FailureClass classify(Throwable failure) {
        return S3Failures.classify(failure);
    }

    @Override
    public String name() {
        return "s3";
    }

    /**
     * Every request event is also reported to {@code listener} (the runtime's {@code
     * StorageMetrics}); this store's own counters below keep counting.
     */
    @Override
    public void onRequestEvents(StoreRequestListener listener) {
        requests.forwardTo(listener);
    }

    /** Requests that carried object bytes (PutObject and UploadPart), retries included. */
    public long dataRequests() {
        return requests.dataRequests();
    }

    /** Resends of requests that carried object bytes (PutObject and UploadPart). */
    public long partRetries() {
        return requests.dataRequestRetries();
    }

    /**
     * Delete requests sent (one DeleteObjects counts once, whatever its size), resends and the
     * deletes after failed uploads included.
     */
    public long deleteRequests() {
        return requests.deleteRequests();
    }

    @Override
    public void close() {
        partExecutor.shutdownNow();
        try {
            partExecutor.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        cleanup.close();
        client.close();
    }

    /** The bucket of an s3://, s3a:// or s3p:// path. */
    static String bucket(Path path) {
        return S3Location.of(path).bucket();
    }

    /** The key of an s3://, s3a:// or s3p:// path (no leading slash). */
    static String key(Path path) {
        return S3Location.of(path).key();
    }
}
