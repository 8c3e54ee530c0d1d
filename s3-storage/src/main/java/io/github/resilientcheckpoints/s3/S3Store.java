package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.StoreRequestCounters;
import io.github.resilientcheckpoints.store.StoreRequestListener;
import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsBatchDelete;
import io.github.resilientcheckpoints.store.SupportsExclusiveCreate;
import io.github.resilientcheckpoints.store.SupportsListing;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.SupportsPendingUploads;
import io.github.resilientcheckpoints.store.SupportsRequestEvents;
import io.github.resilientcheckpoints.store.SupportsThrottleSignals;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.annotation.Nullable;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * The S3 store on AWS SDK v2.
 *
 * <ul>
 *   <li>Files below the multipart threshold: one {@code PutObject}. Larger ones: a multipart upload
 *       whose parts go out in parallel, each read straight from the staged source (no copy in
 *       memory beyond the part in flight), each retried alone on failure; a failed or interrupted
 *       upload is aborted so no incomplete upload is left behind (an abort failure is logged; the
 *       cleanup sweep finds what is left).
 *   <li>Cleanup on cancelled threads: aborts and deletes of abandoned data go through {@link
 *       S3Cleanup}'s {@code CleanupExecutor}, so an interrupted (cancelled) thread cannot make the
 *       SDK refuse them.
 *   <li>Integrity: every request carries a CRC32C checksum that S3 verifies; a mismatch fails that
 *       request, which is resent.
 *   <li>Retries: the SDK's own retries are off. Single requests (parts, small files, the start and
 *       completion of a multipart upload, batched deletes) are resent by {@link S3RequestRetries}
 *       ({@code s3.part-attempts}); whole files by the storage's retry loop, which also bounds
 *       everything by the deadline.
 *   <li>Throttling: every 503 SlowDown / 429 answered to a request is reported to the throttle.
 *   <li>Metrics: requests sent and resent, deletes and throttled answers are counted per store and
 *       reported to the runtime's listener ({@link SupportsRequestEvents}).
 *   <li>Entropy: Flink's {@code s3.entropy.key} in a data file key is replaced by random
 *       characters, as Flink does; the handle carries the real key.
 *   <li>{@code _metadata} ({@link #createExclusive}): written with {@code If-None-Match: *},
 *       exactly at its target (no entropy), so it never replaces an existing object.
 * </ul>
 *
 * <p>The other roles are their own classes: {@link S3Location} (bucket, key), {@link
 * S3MultipartUpload} and {@link S3PartSchedule}, {@link S3BucketCheck}, {@link S3BatchDeletes},
 * {@link S3Listings} and {@link S3RequestBodies}; this class composes them.
 */
public final class S3Store
        implements CheckpointStore,
                SupportsListing,
                SupportsBatchDelete,
                SupportsPendingUploads,
                SupportsThrottleSignals,
                SupportsRequestEvents,
                SupportsPartUploads,
                SupportsExclusiveCreate {

    private static final Logger LOG = LoggerFactory.getLogger(S3Store.class);

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
    private final StoreRequestCounters requests = new StoreRequestCounters();
    private final S3RequestRetries retries;
    private final S3Cleanup cleanup;
    private final S3BucketCheck bucketCheck;
    private final S3BatchDeletes batchDeletes;
    private final S3Listings listings;
    @Nullable private ExecutorService sdkTimeouts;

    /** The store owns {@code client} and {@code partExecutor} and closes both. */
    public S3Store(S3Client client, Settings settings, ExecutorService partExecutor) {
        this(client, settings, partExecutor, Ticker.SYSTEM, Sleeper.SYSTEM);
    }

    /**
     * The store owns {@code client}, {@code partExecutor} and {@code sdkTimeouts} (the scheduler
     * the client was built with) and closes all three.
     */
    S3Store(
            S3Client client,
            Settings settings,
            ExecutorService partExecutor,
            ExecutorService sdkTimeouts) {
        this(client, settings, partExecutor, Ticker.SYSTEM, Sleeper.SYSTEM);
        this.sdkTimeouts = sdkTimeouts;
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
        this.retries = new S3RequestRetries(settings.partAttempts(), ticker, sleeper, requests);
        this.retries.requestTimeout(configuredRequestTimeout(client));
        this.cleanup = new S3Cleanup(client, requests);
        this.bucketCheck = new S3BucketCheck(client);
        this.batchDeletes = new S3BatchDeletes(client, retries);
        this.listings = new S3Listings(client);
    }

    /** The client's per-request timeout ({@code s3.request-timeout}), null if it cannot say. */
    @Nullable
    private static Duration configuredRequestTimeout(S3Client client) {
        try {
            return client.serviceClientConfiguration()
                    .overrideConfiguration()
                    .apiCallAttemptTimeout()
                    .orElse(null);
        } catch (RuntimeException e) {
            return null; // a client without that configuration (a test double)
        }
    }

    // ------------------------------------------------------------------ upload

    @Override
    public Path upload(UploadSource source, Path target) throws IOException {
        S3Location location = S3Location.of(target);
        bucketCheck.ensureBucket(location.bucket());
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
     * Writes {@code source} to exactly {@code target} (no entropy) only where no object exists: a
     * PutObject with {@code If-None-Match: *} or, from the multipart threshold on, a multipart
     * upload whose CompleteMultipartUpload carries it. S3 checks the condition and writes in one
     * step, so of two writers at most one succeeds. S3's 412 PreconditionFailed (or 409
     * ConditionalRequestConflict: another conditional write of the key is under way) becomes a
     * {@link FileAlreadyExistsException} naming the path.
     *
     * <p>A resent request whose earlier attempt was stored, its answer lost, is answered 412 too:
     * when this call sent more than one attempt, the object is read back and, holding exactly these
     * bytes, is this write's. After any other failure the object is deleted only if it holds
     * exactly these bytes, so a later attempt is not refused by this one's leftovers and nobody
     * else's object is ever deleted.
     */
    @Override
    public void createExclusive(UploadSource source, Path target) throws IOException {
        S3Location location = S3Location.of(target);
        String bucket = location.bucket();
        String key = location.key();
        bucketCheck.ensureBucket(bucket);
        AtomicInteger sent = new AtomicInteger();
        boolean done = false;
        boolean taken = false;
        Throwable failure = null;
        try {
            try {
                if (source.length() < settings.multipartThreshold()) {
                    putIfAbsent(source, bucket, key, sent);
                } else {
                    multipartIfAbsent(source, location, sent);
                }
                done = true;
            } catch (IOException e) {
                S3Exception answer = S3Failures.s3Answer(e);
                if (answer == null || !isKeyTaken(answer)) {
                    throw e;
                }
                if (sent.get() > 1 && cleanup.holdsExactly(bucket, key, source)) {
                    done = true; // an earlier attempt of this call wrote it; its answer was lost
                    return;
                }
                taken = true;
                FileAlreadyExistsException exists =
                        new FileAlreadyExistsException(
                                "s3://" + bucket + "/" + key,
                                null,
                                "an object already exists there (S3 answered "
                                        + S3Failures.statusCode(answer)
                                        + " "
                                        + S3Failures.errorCode(answer)
                                        + " to a write with If-None-Match: *); it was left"
                                        + " unchanged and nothing was written");
                exists.initCause(e);
                throw exists;
            }
        } catch (IOException | RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            if (!done && !taken) {
                S3Cleanup.suppress(failure, cleanup.deleteIfHolding(bucket, key, source));
            }
        }
    }

    /** S3's answer to a conditional write whose key is taken (or being taken by another write). */
    static boolean isKeyTaken(S3Exception answer) {
        String code = S3Failures.errorCode(answer);
        return S3Failures.statusCode(answer) == 412
                || "PreconditionFailed".equals(code)
                || "ConditionalRequestConflict".equals(code);
    }

    private void putIfAbsent(UploadSource source, String bucket, String key, AtomicInteger sent)
            throws IOException {
        retries.send(
                "PutObject (If-None-Match: *)",
                bucket,
                key,
                S3RequestRetries.Payload.OBJECT_BYTES,
                o -> {
                    sent.incrementAndGet();
                    requests.dataRequestSent();
                    return client.putObject(
                            b ->
                                    b.bucket(bucket)
                                            .key(key)
                                            .overrideConfiguration(o)
                                            .ifNoneMatch("*")
                                            .checksumAlgorithm(ChecksumAlgorithm.CRC32_C),
                            RequestBody.fromContentProvider(
                                    () -> S3RequestBodies.open(source),
                                    source.length(),
                                    "application/octet-stream"));
                });
    }

    private void multipartIfAbsent(UploadSource source, S3Location location, AtomicInteger sent)
            throws IOException {
        long length = source.length();
        int parts = (int) Math.max(1, (length + settings.partSize() - 1) / settings.partSize());
        S3MultipartUpload upload = S3MultipartUpload.startIfAbsent(this, location, sent);
        for (int i = 1; i < parts; i++) {
            upload.submitPart(
                    i,
                    S3RequestBodies.slice(
                            source, (i - 1) * settings.partSize(), settings.partSize()));
        }
        long lastOffset = (long) (parts - 1) * settings.partSize();
        upload.complete(parts, S3RequestBodies.slice(source, lastOffset, length - lastOffset));
    }

    private void put(UploadSource source, String bucket, String key) throws IOException {
        boolean done = false;
        Throwable failure = null;
        try {
            retries.send(
                    "PutObject",
                    bucket,
                    key,
                    S3RequestRetries.Payload.OBJECT_BYTES,
                    o -> {
                        requests.dataRequestSent();
                        return client.putObject(
                                b ->
                                        b.bucket(bucket)
                                                .key(key)
                                                .overrideConfiguration(o)
                                                .checksumAlgorithm(ChecksumAlgorithm.CRC32_C),
                                RequestBody.fromContentProvider(
                                        () -> S3RequestBodies.open(source),
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
                S3Cleanup.suppress(failure, cleanup.deleteQuietly(bucket, key));
            }
        }
    }

    private void multipart(UploadSource source, S3Location location) throws IOException {
        long length = source.length();
        int parts = (int) Math.max(1, (length + settings.partSize() - 1) / settings.partSize());
        S3MultipartUpload upload = S3MultipartUpload.start(this, location);
        for (int i = 1; i < parts; i++) {
            upload.submitPart(
                    i,
                    S3RequestBodies.slice(
                            source, (i - 1) * settings.partSize(), settings.partSize()));
        }
        long lastOffset = (long) (parts - 1) * settings.partSize();
        upload.complete(parts, S3RequestBodies.slice(source, lastOffset, length - lastOffset));
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
        // The bucket check and CreateMultipartUpload run on a part thread: the caller, a snapshot
        // writer, never waits on S3 to start an upload (a failure surfaces at complete()).
        S3Location location = S3Location.of(target);
        return S3MultipartUpload.startInBackground(
                this, location.withKey(injectEntropy(location.key())));
    }

    S3BucketCheck bucketCheck() {
        return bucketCheck;
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

    S3RequestRetries retries() {
        return retries;
    }

    S3Cleanup cleanup() {
        return cleanup;
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
        // Abandoned attempts are deleted from their own, interrupted thread.
        cleanup.delete(path);
    }

    /**
     * DeleteObjects in batches of up to 1000 keys; keys S3 reports as failed, and failed requests,
     * are resent as the request policy says ({@code s3.part-attempts}, with backoff).
     */
    @Override
    public List<Path> deleteAll(Collection<Path> paths) throws IOException {
        return batchDeletes.deleteAll(paths);
    }

    @Override
    public List<StoredFile> listFiles(Path directory) throws IOException {
        return listings.listFiles(directory);
    }

    @Override
    public List<PendingUpload> listPendingUploads(Path directory) throws IOException {
        return listings.listPendingUploads(directory);
    }

    @Override
    public void abortPendingUpload(PendingUpload upload) throws IOException {
        S3Location location = S3Location.of(upload.path());
        cleanup.abortUpload(location.bucket(), location.key(), upload.uploadId());
    }

    // ------------------------------------------------------------------ the rest

    @Override
    public void onThrottleSignal(Runnable listener) {
        retries.onThrottleSignal(listener);
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
        if (sdkTimeouts != null) {
            sdkTimeouts.shutdownNow();
        }
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
