package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;
import java.io.IOException;
import java.util.Locale;
import java.util.Set;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/** S3 answers by error code and status, translated once into the storage's classes. */
final class S3Failures {

    private static final Set<String> THROTTLED =
            Set.of(
                    "SlowDown",
                    "Throttling",
                    "ThrottlingException",
                    "RequestLimitExceeded",
                    "TooManyRequestsException",
                    "RequestThrottled",
                    "ServiceUnavailable");

    private static final Set<String> PERMANENT =
            Set.of(
                    "NoSuchBucket",
                    "AccessDenied",
                    "InvalidAccessKeyId",
                    "SignatureDoesNotMatch",
                    "InvalidBucketName",
                    "AllAccessDisabled",
                    "AccountProblem",
                    "InvalidObjectState",
                    "NotImplemented",
                    "KeyTooLongError",
                    "MethodNotAllowed",
                    "PermanentRedirect",
                    "AuthorizationHeaderMalformed",
                    // 400s that say the request itself is wrong: the same request fails the same
                    // way again.
                    "InvalidArgument",
                    "EntityTooLarge");

    /**
     * Temporary credentials (STS, web identity, instance or container role) that S3 no longer
     * accepts: the provider hands out fresh ones when asked again, and the SDK asks on every
     * request, so the request is resent. Only when they stay refused is it permanent ({@link
     * ExpiredCredentials}).
     */
    private static final Set<String> EXPIRED_CREDENTIALS =
            Set.of("ExpiredToken", "InvalidToken", "TokenRefreshRequired");

    /**
     * What the operator sets when S3 rejects or the SDK cannot find credentials; names keys only.
     */
    static final String CREDENTIAL_KEYS =
            "'s3.access-key' and 's3.secret-key' (also spelled 's3.access.key'"
                    + " and 's3.secret.key'), or, with both unset, the AWS default credential chain (environment"
                    + " variables, system properties, profile file, web identity, container or instance role)";

    private S3Failures() {}

    static FailureClass classify(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof S3BucketCheck.BucketUnusableException
                    || t instanceof ExpiredCredentials) {
                return FailureClass.PERMANENT;
            }
            if (t instanceof S3Exception) {
                S3Exception e = (S3Exception) t;
                String code = e.awsErrorDetails() == null ? null : e.awsErrorDetails().errorCode();
                if (e.statusCode() == 503
                        || e.statusCode() == 429
                        || (code != null && THROTTLED.contains(code))) {
                    return FailureClass.THROTTLED;
                }
                if (code != null && EXPIRED_CREDENTIALS.contains(code)) {
                    return FailureClass.TRANSIENT;
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
                // No credentials on this host: every attempt would fail the same way.
                return isCredentialLoadingFailure(t)
                        ? FailureClass.PERMANENT
                        : FailureClass.TRANSIENT;
            }
        }
        return GenericFailureClassifier.classify(failure);
    }

    /** S3 refused the credentials as expired (a refreshed set may be accepted). */
    static boolean isExpiredCredentials(Throwable failure) {
        return failure instanceof S3Exception
                && ((S3Exception) failure).awsErrorDetails() != null
                && EXPIRED_CREDENTIALS.contains(
                        ((S3Exception) failure).awsErrorDetails().errorCode());
    }

    /** Temporary credentials that stayed expired through every attempt of a request: permanent. */
    static final class ExpiredCredentials extends IOException {
        private static final long serialVersionUID = 1L;

        ExpiredCredentials(
                String operation, String bucket, String key, int attempts, S3Exception cause) {
            super(
                    operation
                            + " of s3://"
                            + bucket
                            + "/"
                            + key
                            + " failed: "
                            + cause.getMessage()
                            + ". S3 refused"
                            + " the temporary credentials as expired ("
                            + cause.awsErrorDetails().errorCode()
                            + ") on all "
                            + attempts
                            + " attempts, asking the credentials provider again each time: it did not refresh"
                            + " them. Check the provider (web identity token file, instance or container role, STS"
                            + " session) and which credentials are used: "
                            + CREDENTIAL_KEYS
                            + ".",
                    cause);
        }
    }

    /**
     * The SDK could not obtain credentials at all (the default chain found none, or a provider
     * failed): the SDK reports it only as an {@link SdkClientException} with this message.
     */
    static boolean isCredentialLoadingFailure(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof SdkClientException
                    && !(t instanceof S3Exception)
                    && t.getMessage() != null) {
                String m = t.getMessage().toLowerCase(Locale.ROOT);
                if (m.contains("unable to load credentials")
                        || m.contains("contained no credentials")) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Wraps an SDK failure into an {@link IOException} whose message names the operation, bucket
     * and key and, for the usual permanent cases, what to do; the SDK exception stays as the cause.
     */
    static IOException wrap(String operation, String bucket, String key, RuntimeException e) {
        String code =
                e instanceof S3Exception && ((S3Exception) e).awsErrorDetails() != null
                        ? ((S3Exception) e).awsErrorDetails().errorCode()
                        : null;
        String hint = "";
        if ("NoSuchBucket".equals(code)) {
            hint =
                    " Bucket '"
                            + bucket
                            + "' does not exist: create it or correct 'execution.checkpointing.dir'.";
        } else if ("AccessDenied".equals(code)
                || (e instanceof S3Exception && ((S3Exception) e).statusCode() == 403)) {
            hint =
                    " Access to bucket '"
                            + bucket
                            + "' was denied: check the bucket policy and the credentials'"
                            + " permissions (s3:PutObject, s3:DeleteObject, s3:ListBucket, s3:AbortMultipartUpload),"
                            + " and which credentials are used: "
                            + CREDENTIAL_KEYS
                            + ".";
        } else if ("InvalidAccessKeyId".equals(code) || "SignatureDoesNotMatch".equals(code)) {
            hint =
                    " The credentials were rejected for bucket '"
                            + bucket
                            + "': check "
                            + CREDENTIAL_KEYS
                            + ".";
        } else if (isCredentialLoadingFailure(e)) {
            hint = " No S3 credentials could be loaded: set " + CREDENTIAL_KEYS + ".";
        }
        return new IOException(
                operation
                        + " of s3://"
                        + bucket
                        + "/"
                        + key
                        + " failed: "
                        + e.getMessage()
                        + "."
                        + hint,
                e);
    }
}
