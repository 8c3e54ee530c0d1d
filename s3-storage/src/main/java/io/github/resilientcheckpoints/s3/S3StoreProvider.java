package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStoreProvider;

import org.apache.flink.configuration.ReadableConfig;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.retry.RetryMode;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;

import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** Serves {@code s3://} (and {@code s3a://}, {@code s3p://}) checkpoint directories with {@link S3Store}. */
public final class S3StoreProvider implements CheckpointStoreProvider {

    @Override
    public boolean supportsScheme(String scheme) {
        return "s3".equals(scheme) || "s3a".equals(scheme) || "s3p".equals(scheme);
    }

    @Override
    public int priority() {
        return 10;
    }

    @Override
    public CheckpointStore create(URI checkpointRoot, ReadableConfig config) throws IOException {
        boolean hasAccess = config.get(S3StoreOptions.ACCESS_KEY) != null;
        boolean hasSecret = config.get(S3StoreOptions.SECRET_KEY) != null;
        if (hasAccess != hasSecret) {
            // Names the keys only, never a value.
            throw new IOException("Only one of '" + S3StoreOptions.ACCESS_KEY.key() + "' (or 's3.access.key') and '"
                    + S3StoreOptions.SECRET_KEY.key() + "' (or 's3.secret.key') is set: set both, or neither to use"
                    + " the AWS default credential chain");
        }
        long partSize = config.get(S3StoreOptions.PART_SIZE).getBytes();
        int parallel = config.get(S3StoreOptions.PARALLEL_PARTS);
        int attempts = config.get(S3StoreOptions.PART_ATTEMPTS);
        if (parallel < 1 || parallel > 256) {
            throw new IOException("Invalid value " + parallel + " for '" + S3StoreOptions.PARALLEL_PARTS.key()
                    + "': expected 1 to 256");
        }
        if (attempts < 1 || attempts > 100) {
            throw new IOException("Invalid value " + attempts + " for '" + S3StoreOptions.PART_ATTEMPTS.key()
                    + "': expected 1 to 100");
        }
        if (partSize < (5L << 20) || partSize > (5L << 30)) {
            throw new IOException("Invalid value " + config.get(S3StoreOptions.PART_SIZE) + " for '"
                    + S3StoreOptions.PART_SIZE.key() + "': expected 5 mb to 5 gb (S3's part limits)");
        }
        S3Store.Settings settings = new S3Store.Settings(
                config.get(S3StoreOptions.MULTIPART_THRESHOLD).getBytes(), partSize, parallel, attempts,
                config.get(S3StoreOptions.ENTROPY_KEY), config.get(S3StoreOptions.ENTROPY_LENGTH));
        return new S3Store(client(config), settings, partThreads(parallel));
    }

    static S3Client client(ReadableConfig config) {
        return client(config, credentials(config));
    }

    /** The client of {@code config} with these credentials (tests: providers that expire). */
    static S3Client client(ReadableConfig config, AwsCredentialsProvider credentials) {
        S3ClientBuilder builder = S3Client.builder()
                .httpClientBuilder(UrlConnectionHttpClient.builder()
                        .connectionTimeout(Duration.ofSeconds(10))
                        .socketTimeout(Duration.ofSeconds(60)))
                .credentialsProvider(credentials)
                .forcePathStyle(config.get(S3StoreOptions.PATH_STYLE_ACCESS))
                // Our part and file retries are the only ones: the SDK's would multiply them.
                .overrideConfiguration(o -> o
                        .retryStrategy(RetryMode.STANDARD)
                        .retryStrategy(b -> b.maxAttempts(1))
                        .apiCallAttemptTimeout(config.get(S3StoreOptions.REQUEST_TIMEOUT)));
        String region = config.get(S3StoreOptions.REGION);
        if (region != null && !region.isBlank()) {
            builder.region(Region.of(region));
        } else if (config.get(S3StoreOptions.ENDPOINT) != null) {
            builder.region(Region.US_EAST_1);
        }
        String endpoint = config.get(S3StoreOptions.ENDPOINT);
        if (endpoint != null && !endpoint.isBlank()) {
            builder.endpointOverride(URI.create(endpoint));
        }
        return builder.build();
    }

    private static AwsCredentialsProvider credentials(ReadableConfig config) {
        String access = config.get(S3StoreOptions.ACCESS_KEY);
        String secret = config.get(S3StoreOptions.SECRET_KEY);
        if (access != null && secret != null) {
            return StaticCredentialsProvider.create(AwsBasicCredentials.create(access, secret));
        }
        return DefaultCredentialsProvider.builder().build();
    }

    static ExecutorService partThreads(int parallel) {
        AtomicInteger n = new AtomicInteger();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(parallel * 4, parallel * 4, 60, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "rcs-s3-part-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }
}
