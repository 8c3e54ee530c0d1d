package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.core.fs.Path;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.Delete;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.S3Error;

/**
 * Batched deletes (DeleteObjects, up to {@value #MAX_DELETE_BATCH} keys a request), grouped by
 * bucket; failed requests and the keys S3 reports as not deleted are resent through the store's
 * {@link S3RequestRetries}.
 */
final class S3BatchDeletes {

    static final int MAX_DELETE_BATCH = 1000;

    private final S3Client client;
    private final S3RequestRetries retries;

    S3BatchDeletes(S3Client client, S3RequestRetries retries) {
        this.client = client;
        this.retries = retries;
    }

    /**
     * DeleteObjects in batches of up to 1000 keys; keys S3 reports as failed, and failed requests,
     * are resent as the request policy says ({@code s3.part-attempts}, with backoff).
     *
     * @return the paths (as given) that are still there after the last resend
     */
    List<Path> deleteAll(Collection<Path> paths) throws IOException {
        // bucket -> key -> the path as given (failures are reported as given, scheme included)
        Map<String, Map<String, Path>> byBucket = new LinkedHashMap<>();
        for (Path p : paths) {
            S3Location l = S3Location.of(p);
            byBucket.computeIfAbsent(l.bucket(), b -> new LinkedHashMap<>())
                    .putIfAbsent(l.key(), p);
        }
        List<Path> failed = new ArrayList<>();
        for (Map.Entry<String, Map<String, Path>> e : byBucket.entrySet()) {
            List<String> keys = new ArrayList<>(e.getValue().keySet());
            for (int from = 0; from < keys.size(); from += MAX_DELETE_BATCH) {
                List<String> batch =
                        keys.subList(from, Math.min(keys.size(), from + MAX_DELETE_BATCH));
                for (String key : deleteBatch(e.getKey(), batch)) {
                    failed.add(e.getValue().get(key));
                }
            }
        }
        return failed;
    }

    private List<String> deleteBatch(String bucket, List<String> keys) throws IOException {
        List<String> pending = keys;
        long noDeadline = retries.noDeadline();
        for (int attempt = 1; !pending.isEmpty(); attempt++) {
            List<ObjectIdentifier> ids = new ArrayList<>(pending.size());
            for (String k : pending) {
                ids.add(ObjectIdentifier.builder().key(k).build());
            }
            FailureClass failureClass;
            try {
                retries.counters().deleteRequestSent();
                DeleteObjectsResponse r =
                        client.deleteObjects(
                                b ->
                                        b.bucket(bucket)
                                                .delete(
                                                        Delete.builder()
                                                                .objects(ids)
                                                                .quiet(true)
                                                                .build()));
                List<String> again = new ArrayList<>();
                for (S3Error err : r.errors()) {
                    again.add(err.key());
                }
                pending = again;
                failureClass = FailureClass.TRANSIENT;
            } catch (RuntimeException ex) {
                failureClass = S3Failures.classify(ex);
                if (failureClass == FailureClass.THROTTLED) {
                    retries.counters().throttledResponse();
                }
                RetryPolicy.Decision next = retries.next(attempt, failureClass, noDeadline);
                if (!next.retry()) {
                    throw S3Failures.wrap(
                            "DeleteObjects (" + pending.size() + " keys)",
                            bucket,
                            pending.get(0),
                            ex);
                }
                retries.counters().otherRequestRetried();
                retries.pause(next.delayNanos());
                continue;
            }
            if (pending.isEmpty()) {
                break;
            }
            RetryPolicy.Decision next = retries.next(attempt, failureClass, noDeadline);
            if (!next.retry()) {
                break; // reported to the caller as not deleted
            }
            retries.counters().otherRequestRetried();
            retries.pause(next.delayNanos());
        }
        return pending;
    }
}
