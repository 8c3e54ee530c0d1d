package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.Causes;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import javax.annotation.Nullable;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.FallbackKey;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
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
                    "EntityTooLarge",
                    // A conditional write (If-None-Match: *) found the key taken.
                    "PreconditionFailed",
                    "ConditionalRequestConflict");

    /**
     * Temporary credentials (STS, web identity, instance or container role) that S3 no longer
     * accepts: the provider hands out fresh ones when asked again, and the SDK asks on every
     * request, so the request is resent. Only when they stay refused is it permanent ({@link
     * ExpiredCredentials}).
     */
    private static final Set<String> EXPIRED_CREDENTIALS =
            Set.of("ExpiredToken", "InvalidToken", "TokenRefreshRequired");

    /**
     * 403s about the request's signing time, not its credentials: the SDK corrects its clock offset
     * from the answer's Date header, so the resend is signed with the corrected time.
     */
    private static final Set<String> RESENT_WITH_A_FRESH_SIGNATURE =
            Set.of("RequestTimeTooSkewed", "RequestExpired");

    /**
     * What the operator sets when S3 rejects or the SDK cannot find credentials; names keys only.
     */
    static final String CREDENTIAL_KEYS =
            "'"
                    + S3StoreOptions.ACCESS_KEY.key()
                    + "' and '"
                    + S3StoreOptions.SECRET_KEY.key()
                    + "' (also spelled "
                    + fallbackKeys(S3StoreOptions.ACCESS_KEY)
                    + " and "
                    + fallbackKeys(S3StoreOptions.SECRET_KEY)
                    + "), or, with both unset, the AWS default credential chain (environment"
                    + " variables, system properties, profile file, web identity, container or instance role)";

    /** The option's other spellings, quoted: {@code 's3.access.key'}. */
    static String fallbackKeys(ConfigOption<?> option) {
        StringBuilder keys = new StringBuilder();
        for (FallbackKey k : option.fallbackKeys()) {
            keys.append(keys.length() == 0 ? "" : " or ")
                    .append('\'')
                    .append(k.getKey())
                    .append('\'');
        }
        return keys.toString();
    }

    private S3Failures() {}

    /**
     * The class of a failure of one of the store's requests; returns normally whatever it is handed
     * (cause cycles, null error codes and messages, accessors that throw).
     */
    static FailureClass classify(Throwable failure) {
        List<Throwable> chain = Causes.chain(failure);
        for (Throwable t : chain) {
            if (t instanceof S3BucketCheck.BucketUnusableException
                    || t instanceof ExpiredCredentials
                    || t instanceof FileAlreadyExistsException) {
                return FailureClass.PERMANENT;
            }
            if (t instanceof S3Exception) {
                S3Exception e = (S3Exception) t;
                int status = statusCode(e);
                String code = errorCode(e);
                if (status == 503 || status == 429 || (code != null && THROTTLED.contains(code))) {
                    return FailureClass.THROTTLED;
                }
                if (code != null && EXPIRED_CREDENTIALS.contains(code)) {
                    return FailureClass.TRANSIENT;
                }
                if (code != null && RESENT_WITH_A_FRESH_SIGNATURE.contains(code)) {
                    return FailureClass.TRANSIENT;
                }
                if (code != null && PERMANENT.contains(code)) {
                    return FailureClass.PERMANENT;
                }
                if (status == 403 || status == 301 || status == 412) {
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
        try {
            return GenericFailureClassifier.classify(failure);
        } catch (RuntimeException | LinkageError e) {
            return FailureClass.TRANSIENT;
        }
    }

    /** The HTTP status of an S3 answer, or -1 when it cannot be read. */
    static int statusCode(S3Exception e) {
        try {
            return e.statusCode();
        } catch (RuntimeException | LinkageError ex) {
            return -1;
        }
    }

    /** S3's error code of a failure, or null (none, not an S3 answer, or unreadable). */
    @Nullable
    static String errorCode(@Nullable Throwable failure) {
        if (!(failure instanceof S3Exception)) {
            return null;
        }
        try {
            AwsErrorDetails details = ((S3Exception) failure).awsErrorDetails();
            return details == null ? null : details.errorCode();
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    /** The first S3 answer in a failure's causes, or null. */
    @Nullable
    static S3Exception s3Answer(@Nullable Throwable failure) {
        for (Throwable t : Causes.chain(failure)) {
            if (t instanceof S3Exception) {
                return (S3Exception) t;
            }
        }
        return null;
    }

    /** S3 refused the credentials as expired (a refreshed set may be accepted). */
    static boolean isExpiredCredentials(Throwable failure) {
        String code = errorCode(failure);
        return code != null && EXPIRED_CREDENTIALS.contains(code);
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
                            + Causes.message(cause)
                            + ". S3 refused"
                            + " the temporary credentials as expired ("
                            + errorCode(cause)
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
        for (Throwable t : Causes.chain(failure)) {
            if (t instanceof SdkClientException && !(t instanceof S3Exception)) {
                String m = Causes.message(t).toLowerCase(Locale.ROOT);
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
    static IOException wrap(
            String operation, String bucket, String key, @Nullable RuntimeException e) {
        String code = errorCode(e);
        String hint = "";
        if ("NoSuchBucket".equals(code)) {
            hint =
                    " Bucket '"
                            + bucket
                            + "' does not exist: create it or correct 'execution.checkpointing.dir'.";
        } else if ("AccessDenied".equals(code)
                || (e instanceof S3Exception
                        && statusCode((S3Exception) e) == 403
                        && !(code != null
                                && (EXPIRED_CREDENTIALS.contains(code)
                                        || RESENT_WITH_A_FRESH_SIGNATURE.contains(code))))) {
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
                        + describe(e)
                        + "."
                        + hint,
                e);
    }

    /**
     * The message of a failure, or its class name when it has none (or reading it fails); never
     * throws. For logs and messages instead of {@code toString()}, which calls {@code
     * getMessage()}.
     */
    static String describe(@Nullable Throwable t) {
        if (t == null) {
            return "no failure";
        }
        String m = Causes.message(t);
        return m.isEmpty() ? t.getClass().getName() : m;
    }
}
