package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.CleanupExecutor;
import io.github.resilientcheckpoints.store.StoreRequestCounters;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Arrays;
import javax.annotation.Nullable;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.NoSuchUploadException;

/**
 * Aborts and deletes of abandoned data (failed uploads, orphans of a resent CreateMultipartUpload,
 * single deletes): they run on a {@link CleanupExecutor}, so an interrupted (cancelled) thread
 * cannot make the SDK refuse them. Owns that executor; the store closes it.
 */
final class S3Cleanup implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(S3Cleanup.class);

    private final S3Client client;
    private final StoreRequestCounters counters;
    private final CleanupExecutor cleanup =
            new CleanupExecutor(
                    "rcs-s3-cleanup", S3Cleanup.class.getClassLoader(), 4, Duration.ofSeconds(30));

    S3Cleanup(S3Client client, StoreRequestCounters counters) {
        this.client = client;
        this.counters = counters;
    }

    /** Deletes what a failed upload may have left; returns the failure (logged) or null. */
    @Nullable
    Exception deleteQuietly(String bucket, String key) {
        try {
            cleanup.call(
                    "DeleteObject of s3://" + bucket + "/" + key,
                    () -> {
                        counters.deleteRequestSent();
                        return client.deleteObject(b -> b.bucket(bucket).key(key));
                    });
            return null;
        } catch (IOException | RuntimeException e) {
            LOG.debug("Could not delete s3://{}/{} after a failed upload", bucket, key, e);
            return e;
        }
    }

    /**
     * Whether the object at the key holds exactly the bytes of {@code source} (read back and
     * compared); false when it does not, is missing, or cannot be read.
     */
    boolean holdsExactly(String bucket, String key, UploadSource source) {
        try (ResponseInputStream<GetObjectResponse> in =
                        client.getObject(b -> b.bucket(bucket).key(key));
                InputStream ours = S3RequestBodies.open(source)) {
            Long length = in.response().contentLength();
            if (length != null && length != source.length()) {
                return false;
            }
            byte[] a = new byte[64 * 1024];
            byte[] b = new byte[a.length];
            while (true) {
                int n = in.readNBytes(a, 0, a.length);
                int m = ours.readNBytes(b, 0, n == 0 ? 1 : n);
                if (n != m || !Arrays.equals(a, 0, n, b, 0, m)) {
                    return false;
                }
                if (n == 0) {
                    return true;
                }
            }
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Deletes the object at the key only if it holds exactly the bytes of {@code source} (what a
     * failed exclusive create may have left; anything else is somebody else's), also from an
     * interrupted thread; returns the failure (logged) or null.
     */
    @Nullable
    Exception deleteIfHolding(String bucket, String key, UploadSource source) {
        try {
            cleanup.call(
                    "DeleteObject of s3://" + bucket + "/" + key + " if it holds our bytes",
                    () -> {
                        if (holdsExactly(bucket, key, source)) {
                            counters.deleteRequestSent();
                            client.deleteObject(b -> b.bucket(bucket).key(key));
                        }
                        return null;
                    });
            return null;
        } catch (IOException | RuntimeException e) {
            LOG.debug(
                    "Could not clean up s3://{}/{} after a failed exclusive create",
                    bucket,
                    key,
                    e);
            return e;
        }
    }

    /** Deletes one object, also from an interrupted thread. */
    void delete(Path path) throws IOException {
        S3Location location = S3Location.of(path);
        String bucket = location.bucket();
        String key = location.key();
        // Abandoned attempts are deleted from their own, interrupted thread.
        cleanup.call(
                "DeleteObject of " + path,
                () -> {
                    try {
                        counters.deleteRequestSent();
                        return client.deleteObject(b -> b.bucket(bucket).key(key));
                    } catch (RuntimeException e) {
                        throw S3Failures.wrap("DeleteObject", bucket, key, e);
                    }
                });
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
                    S3RequestRetries.describe(e));
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
    void abortUpload(String bucket, String key, String uploadId) throws IOException {
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

    @Override
    public void close() {
        cleanup.close();
    }
}
