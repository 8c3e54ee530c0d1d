package io.github.resilientcheckpoints.s3;

import java.io.IOException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * The once-per-bucket check before the first upload to it: a missing bucket, or credentials S3
 * rejects, fail at once as permanent ({@link BucketUnusableException}) instead of looking like
 * connection trouble to the retries. Remembers the buckets it let through.
 */
final class S3BucketCheck {

    private static final Logger LOG = LoggerFactory.getLogger(S3BucketCheck.class);

    private final S3Client client;
    private final Set<String> verifiedBuckets = ConcurrentHashMap.newKeySet();

    S3BucketCheck(S3Client client) {
        this.client = client;
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
    void ensureBucket(String bucket) throws IOException {
        if (verifiedBuckets.contains(bucket)) {
            return;
        }
        try {
            client.headBucket(b -> b.bucket(bucket));
            verifiedBuckets.add(bucket);
        } catch (S3Exception e) {
            if (S3Failures.statusCode(e) == 404) {
                throw new BucketUnusableException(
                        "NoSuchBucket: bucket '"
                                + bucket
                                + "' does not exist: create it"
                                + " or correct the bucket in 'execution.checkpointing.dir'",
                        e);
            }
            if (S3Failures.statusCode(e) == 403) {
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
        String code = S3Failures.errorCode(detail);
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
}
