package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.util.concurrent.atomic.AtomicInteger;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Writes a file only where no object exists ({@code _metadata}): a write carrying {@code
 * If-None-Match: *}, which S3 checks and applies in one step.
 */
final class S3ExclusiveCreate {

    private final S3Context context;
    private final S3UploadRoutes routes;

    S3ExclusiveCreate(S3Context context, S3UploadRoutes routes) {
        this.context = context;
        this.routes = routes;
    }

    /**
     * Writes {@code source} to exactly {@code location} (no entropy) only where no object exists: a
     * PutObject with {@code If-None-Match: *} or, from the multipart threshold on, a multipart
     * upload whose CompleteMultipartUpload carries it. Of two writers at most one succeeds. S3's
     * 412 PreconditionFailed (or 409 ConditionalRequestConflict: another conditional write of the
     * key is under way) becomes a {@link FileAlreadyExistsException} naming the path.
     *
     * <p>A resent request whose earlier attempt was stored, its answer lost, is answered 412 too:
     * when this call sent more than one attempt, the object is read back and, holding exactly these
     * bytes, is this write's. After any other failure the object is deleted only if it holds
     * exactly these bytes, so a later attempt is not refused by this one's leftovers and nobody
     * else's object is ever deleted.
     */
    void create(UploadSource source, S3Location location) throws IOException {
        String bucket = location.bucket();
        String key = location.key();
        context.bucketCheck().ensureBucket(bucket);
        AtomicInteger sent = new AtomicInteger();
        boolean done = false;
        boolean taken = false;
        Throwable failure = null;
        try {
            try {
                if (routes.isSmall(source)) {
                    routes.putObject(
                            "PutObject (If-None-Match: *)",
                            source,
                            bucket,
                            key,
                            "*",
                            sent::incrementAndGet);
                } else {
                    routes.multipart(source, location, sent);
                }
                done = true;
            } catch (IOException e) {
                S3Exception answer = S3Failures.s3Answer(e);
                if (answer == null || !isKeyTaken(answer)) {
                    throw e;
                }
                if (sent.get() > 1 && context.cleanup().holdsExactly(bucket, key, source)) {
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
                S3Cleanup.suppress(failure, context.cleanup().deleteIfHolding(bucket, key, source));
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
}
