package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.StoreRequestCounters;
import java.util.concurrent.ExecutorService;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The services of one {@link S3Store} that its uploads use. The store builds it, owns every part
 * and closes them; an upload holds the context, never the store.
 */
record S3Context(
        S3Client client,
        S3Store.Settings settings,
        ExecutorService partExecutor,
        StoreRequestCounters requests,
        S3RequestRetries retries,
        S3Cleanup cleanup,
        S3BucketCheck bucketCheck) {}
