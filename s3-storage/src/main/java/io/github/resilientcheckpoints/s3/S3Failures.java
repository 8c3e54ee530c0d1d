package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;

import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.model.S3Exception;

import java.io.IOException;
import java.util.Set;

/** S3 answers by error code and status, translated once into the storage's classes. */
final class S3Failures {

    private static final Set<String> THROTTLED = Set.of(
            "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
            "TooManyRequestsException", "RequestThrottled", "ServiceUnavailable");

    private static final Set<String> PERMANENT = Set.of(
            "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
            "ExpiredToken", "InvalidToken", "InvalidBucketName", "AllAccessDisabled",
            "AccountProblem", "InvalidObjectState", "NotImplemented", "KeyTooLongError",
            "MethodNotAllowed", "PermanentRedirect", "AuthorizationHeaderMalformed");

    private S3Failures() {}

    static FailureClass classify(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof S3Store.BucketUnusableException) {
                return FailureClass.PERMANENT;
            }
            if (t instanceof S3Exception) {
                S3Exception e = (S3Exception) t;
                String code = e.awsErrorDetails() == null ? null : e.awsErrorDetails().errorCode();
                if (e.statusCode() == 503 || e.statusCode() == 429 || (code != null && THROTTLED.contains(code))) {
                    return FailureClass.THROTTLED;
                }
                if (code != null && PERMANENT.contains(code)) {
                    return FailureClass.PERMANENT;
                }
                if (e.statusCode() == 403 || e.statusCode() == 301) {
                    return FailureClass.PERMANENT;
                }
                // 5xx, 400 BadDigest / checksum mismatches, RequestTimeout, NoSuchUpload: resend.
                return FailureClass.TRANSIENT;
            }
            if (t instanceof SdkClientException) {
                return FailureClass.TRANSIENT;
            }
        }
        return GenericFailureClassifier.classify(failure);
    }

    /**
     * Wraps an SDK failure into an {@link IOException} whose message names the operation, bucket and
     * key and, for the usual permanent cases, what to do; the SDK exception stays as the cause.
     */
    static IOException wrap(String operation, String bucket, String key, RuntimeException e) {
        String code = e instanceof S3Exception && ((S3Exception) e).awsErrorDetails() != null
                ? ((S3Exception) e).awsErrorDetails().errorCode() : null;
        String hint = "";
        if ("NoSuchBucket".equals(code)) {
            hint = " Bucket '" + bucket + "' does not exist: create it or correct 'execution.checkpointing.dir'.";
        } else if ("AccessDenied".equals(code) || (e instanceof S3Exception && ((S3Exception) e).statusCode() == 403)) {
            hint = " Access to bucket '" + bucket + "' was denied: check the bucket policy and the credentials'"
                    + " permissions (s3:PutObject, s3:DeleteObject, s3:ListBucket, s3:AbortMultipartUpload).";
        } else if ("InvalidAccessKeyId".equals(code) || "SignatureDoesNotMatch".equals(code)) {
            hint = " The credentials were rejected for bucket '" + bucket + "': check 's3.access-key' and"
                    + " 's3.secret-key' (or the default credential chain).";
        }
        return new IOException(operation + " of s3://" + bucket + "/" + key + " failed: "
                + e.getMessage() + "." + hint, e);
    }
}
