package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import javax.annotation.Nullable;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;

/**
 * How a whole staged file goes to S3: one PutObject below {@code s3.multipart-threshold}, else a
 * multipart upload of slices of the file, its parts read straight from the source.
 */
final class S3UploadRoutes {

    private final S3Context context;

    S3UploadRoutes(S3Context context) {
        this.context = context;
    }

    /** Writes {@code source} to {@code location} (whose key is final: entropy injected). */
    void upload(UploadSource source, S3Location location) throws IOException {
        if (isSmall(source)) {
            put(source, location.bucket(), location.key());
        } else {
            multipart(source, location, null);
        }
    }

    /** Whether {@code source} goes out as one PutObject. */
    boolean isSmall(UploadSource source) {
        return source.length() < context.settings().multipartThreshold();
    }

    private void put(UploadSource source, String bucket, String key) throws IOException {
        boolean done = false;
        Throwable failure = null;
        try {
            putObject("PutObject", source, bucket, key, null, () -> {});
            done = true;
        } catch (IOException | RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            if (!done) {
                // A server may keep what arrived before a broken body; nothing partial may stay.
                S3Cleanup.suppress(failure, context.cleanup().deleteQuietly(bucket, key));
            }
        }
    }

    /**
     * One PutObject of the whole {@code source} (CRC32C, bounded by the caller's attempt deadline),
     * resent alone by the request retries; {@code eachSend} runs before every send. With {@code
     * ifNoneMatch} ({@code "*"}) S3 writes only where no object exists.
     */
    void putObject(
            String operation,
            UploadSource source,
            String bucket,
            String key,
            @Nullable String ifNoneMatch,
            Runnable eachSend)
            throws IOException {
        context.retries()
                .send(
                        operation,
                        bucket,
                        key,
                        S3RequestRetries.Payload.OBJECT_BYTES,
                        o -> {
                            eachSend.run();
                            context.requests().dataRequestSent();
                            return context.client()
                                    .putObject(
                                            b ->
                                                    b.bucket(bucket)
                                                            .key(key)
                                                            .overrideConfiguration(o)
                                                            .ifNoneMatch(ifNoneMatch)
                                                            .checksumAlgorithm(
                                                                    ChecksumAlgorithm.CRC32_C),
                                            RequestBody.fromContentProvider(
                                                    () -> S3RequestBodies.open(source),
                                                    source.length(),
                                                    "application/octet-stream"));
                        });
    }

    /**
     * A multipart upload of {@code source} in slices of {@code s3.part-size}. With {@code
     * ifAbsentCompletions}, its completion carries {@code If-None-Match: *} and counts its attempts
     * there ({@link S3MultipartUpload#startIfAbsent}).
     */
    void multipart(
            UploadSource source, S3Location location, @Nullable AtomicInteger ifAbsentCompletions)
            throws IOException {
        long length = source.length();
        long partSize = context.settings().partSize();
        int parts = (int) Math.max(1, (length + partSize - 1) / partSize);
        S3MultipartUpload upload =
                ifAbsentCompletions == null
                        ? S3MultipartUpload.start(context, location)
                        : S3MultipartUpload.startIfAbsent(context, location, ifAbsentCompletions);
        for (int i = 1; i < parts; i++) {
            upload.submitPart(i, S3RequestBodies.slice(source, (i - 1) * partSize, partSize));
        }
        long lastOffset = (long) (parts - 1) * partSize;
        upload.complete(parts, S3RequestBodies.slice(source, lastOffset, length - lastOffset));
    }
}
