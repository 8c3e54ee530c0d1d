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
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import javax.annotation.Nullable;
import org.apache.flink.annotation.VisibleForTesting;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The S3 store on AWS SDK v2: CRC32C on every request, the SDK's retries off and each request
 * resent by {@link S3RequestRetries}, throttled answers reported, cleanup that works from a
 * cancelled thread ({@link S3Cleanup}) and Flink's {@code s3.entropy.key} injected into data keys.
 *
 * <p>It builds the {@link S3Context} its parts share and composes the roles: {@link
 * S3UploadRoutes}, {@link S3ExclusiveCreate}, {@link S3MultipartUpload}, {@link S3BatchDeletes},
 * {@link S3Listings}, {@link S3BucketCheck}.
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

    private final S3Context context;
    private final SecureRandom random = new SecureRandom();
    private final StoreRequestCounters requests = new StoreRequestCounters();
    private final S3UploadRoutes routes;
    private final S3ExclusiveCreate exclusiveCreate;
    private final S3BatchDeletes batchDeletes;
    private final S3Listings listings;
    @Nullable private ExecutorService sdkTimeouts;

    /** The store owns {@code client} and {@code partExecutor} and closes both. */
    @VisibleForTesting
    S3Store(S3Client client, Settings settings, ExecutorService partExecutor) {
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
    @VisibleForTesting
    S3Store(
            S3Client client,
            Settings settings,
            ExecutorService partExecutor,
            Ticker ticker,
            Sleeper sleeper) {
        S3RequestRetries retries =
                new S3RequestRetries(settings.partAttempts(), ticker, sleeper, requests);
        retries.requestTimeout(configuredRequestTimeout(client));
        this.context =
                new S3Context(
                        client,
                        settings,
                        partExecutor,
                        requests,
                        retries,
                        new S3Cleanup(client, requests),
                        new S3BucketCheck(client));
        this.routes = new S3UploadRoutes(context);
        this.exclusiveCreate = new S3ExclusiveCreate(context, routes);
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
        context.bucketCheck().ensureBucket(location.bucket());
        S3Location written = location.withKey(injectEntropy(location.key()));
        routes.upload(source, written);
        return written.toPath();
    }

    /** The target with entropy injected ({@code s3.entropy.key}); {@link #upload} then keeps it. */
    @Override
    public Path resolveTarget(Path target) {
        S3Location location = S3Location.of(target);
        String injected = injectEntropy(location.key());
        return injected.equals(location.key()) ? target : location.withKey(injected).toPath();
    }

    /** Writes {@code source} to exactly {@code target} (no entropy): {@link S3ExclusiveCreate}. */
    @Override
    public void createExclusive(UploadSource source, Path target) throws IOException {
        exclusiveCreate.create(source, S3Location.of(target));
    }

    @Override
    public long partSize() {
        return context.settings().partSize();
    }

    @Override
    public long pipelineThreshold() {
        return Math.max(context.settings().partSize(), context.settings().multipartThreshold());
    }

    @Override
    public PartUpload startPartUpload(Path target) throws IOException {
        // The bucket check and CreateMultipartUpload run on a part thread: the caller, a snapshot
        // writer, never waits on S3 to start an upload (a failure surfaces at complete()).
        S3Location location = S3Location.of(target);
        return S3MultipartUpload.startInBackground(
                context, location.withKey(injectEntropy(location.key())));
    }

    private String injectEntropy(String key) {
        String marker = context.settings().entropyKey();
        if (marker == null || marker.isEmpty() || !key.contains(marker)) {
            return key;
        }
        char[] chars = new char[context.settings().entropyLength()];
        for (int i = 0; i < chars.length; i++) {
            chars[i] = ENTROPY_ALPHABET[random.nextInt(ENTROPY_ALPHABET.length)];
        }
        return key.replace(marker, new String(chars));
    }

    // ------------------------------------------------------------------ delete, list, pending

    @Override
    public void delete(Path path) throws IOException {
        // Abandoned attempts are deleted from their own, interrupted thread.
        context.cleanup().delete(path);
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
        context.cleanup().abortUpload(location.bucket(), location.key(), upload.uploadId());
    }

    // ------------------------------------------------------------------ the rest

    @Override
    public void onThrottleSignal(Runnable listener) {
        context.retries().onThrottleSignal(listener);
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
    @VisibleForTesting
    long dataRequests() {
        return requests.dataRequests();
    }

    /** Resends of requests that carried object bytes (PutObject and UploadPart). */
    @VisibleForTesting
    long partRetries() {
        return requests.dataRequestRetries();
    }

    /**
     * Delete requests sent (one DeleteObjects counts once, whatever its size), resends and the
     * deletes after failed uploads included.
     */
    @VisibleForTesting
    long deleteRequests() {
        return requests.deleteRequests();
    }

    @Override
    public void close() {
        context.partExecutor().shutdownNow();
        try {
            context.partExecutor().awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        context.cleanup().close();
        context.client().close();
        if (sdkTimeouts != null) {
            sdkTimeouts.shutdownNow();
        }
    }

    /** The bucket of an s3://, s3a:// or s3p:// path. */
    @VisibleForTesting
    static String bucket(Path path) {
        return S3Location.of(path).bucket();
    }

    /** The key of an s3://, s3a:// or s3p:// path (no leading slash). */
    @VisibleForTesting
    static String key(Path path) {
        return S3Location.of(path).key();
    }
}
