package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import javax.annotation.Nullable;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompletedMultipartUpload;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

/**
 * The three requests of a multipart upload, each with its resends ({@link S3RequestRetries}) and
 * the checks for an answer lost on the way back. The upload's parts and lifecycle are {@link
 * S3MultipartUpload}'s.
 */
final class S3MultipartRequests {

    private final S3Context context;
    private final S3Location location;

    S3MultipartRequests(S3Context context, S3Location location) {
        this.context = context;
        this.location = location;
    }

    /** CreateMultipartUpload with its resends; returns the upload id. */
    String create() throws IOException {
        String bucket = location.bucket();
        String key = location.key();
        AtomicInteger sent = new AtomicInteger();
        String uploadId;
        try {
            uploadId =
                    context.retries()
                            .send(
                                    "CreateMultipartUpload",
                                    bucket,
                                    key,
                                    S3RequestRetries.Payload.NONE,
                                    o -> {
                                        sent.incrementAndGet();
                                        return context.client()
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
            // would stay pending, billed. The key is fresh, so whatever is pending under it is
            // ours.
            context.cleanup().abortUploadsOfKeyLater(location, null);
            throw e;
        }
        if (sent.get() > 1) {
            // An earlier attempt may have created an upload whose answer was lost.
            context.cleanup().abortUploadsOfKeyLater(location, uploadId);
        }
        return uploadId;
    }

    /** One part, retried alone. */
    CompletedPart uploadPart(String uploadId, UploadSource bytes, int partNumber)
            throws IOException {
        long size = bytes.length();
        UploadPartResponse r =
                context.retries()
                        .send(
                                "UploadPart " + partNumber,
                                location.bucket(),
                                location.key(),
                                S3RequestRetries.Payload.PART_BYTES,
                                o -> {
                                    context.requests().dataRequestSent();
                                    UploadPartResponse answer =
                                            context.client()
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

    /**
     * CompleteMultipartUpload of {@code parts} ({@code total} bytes), with {@code If-None-Match: *}
     * when {@code ifAbsent}; every attempt is counted in {@code sent}. A resend answered
     * NoSuchUpload counts as done when the object under the (fresh) key is the one these parts
     * make: the earlier request completed it and its answer was lost.
     */
    void complete(
            String uploadId,
            List<CompletedPart> parts,
            long total,
            boolean ifAbsent,
            AtomicInteger sent)
            throws IOException {
        context.retries()
                .send(
                        "CompleteMultipartUpload",
                        location.bucket(),
                        location.key(),
                        S3RequestRetries.Payload.NONE,
                        o -> {
                            boolean resend = sent.incrementAndGet() > 1;
                            try {
                                return context.client()
                                        .completeMultipartUpload(
                                                b ->
                                                        b.bucket(location.bucket())
                                                                .key(location.key())
                                                                .overrideConfiguration(o)
                                                                .uploadId(uploadId)
                                                                .ifNoneMatch(ifAbsent ? "*" : null)
                                                                .multipartUpload(
                                                                        CompletedMultipartUpload
                                                                                .builder()
                                                                                .parts(parts)
                                                                                .build()));
                            } catch (S3Exception e) {
                                if (resend
                                        && isNoSuchUpload(e)
                                        && completedEarlier(total, parts.size())) {
                                    return null; // the earlier request completed it
                                }
                                throw e;
                            }
                        });
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
            head =
                    context.client()
                            .headObject(b -> b.bucket(location.bucket()).key(location.key()));
        } catch (RuntimeException e) {
            return false;
        }
        String eTag = head.eTag() == null ? "" : head.eTag().replace("\"", "");
        int dash = eTag.lastIndexOf('-');
        boolean partsMatch = dash < 0 || eTag.substring(dash + 1).equals(String.valueOf(partCount));
        return head.contentLength() != null && head.contentLength() == total && partsMatch;
    }
}
