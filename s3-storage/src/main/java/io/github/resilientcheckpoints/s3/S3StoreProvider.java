package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStoreProvider;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.annotation.Nullable;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.FallbackKey;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.retry.RetryMode;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;

/**
 * Serves {@code s3://} (and {@code s3a://}, {@code s3p://}) checkpoint directories with {@link
 * S3Store}.
 */
public final class S3StoreProvider implements CheckpointStoreProvider {

    /**
     * The spellings of S3 locations, {@code s3} first: those Flink's S3 file systems register
     * ({@code s3} and {@code s3a}: Hadoop; {@code s3} and {@code s3p}: Presto). The one list of
     * them; core asks for it through {@link CheckpointStoreProvider#schemes()}.
     */
    static final List<String> SCHEMES = List.of("s3", "s3a", "s3p");

    @Override
    public List<String> schemes() {
        return SCHEMES;
    }

    @Override
    public int priority() {
        return 10;
    }

    /**
     * Checks every S3 key (either spelling of Flink's keys): credentials set in pairs, part size
     * within S3's limits, thresholds, counts, timeouts, the entropy length, and a region to use.
     */
    @Override
    public void validate(ReadableConfig config) throws IllegalConfigurationException {
        try {
            settings(config);
            if (config.get(S3StoreOptions.REQUEST_TIMEOUT).isNegative()
                    || config.get(S3StoreOptions.REQUEST_TIMEOUT).isZero()) {
                throw invalid(
                        S3StoreOptions.REQUEST_TIMEOUT,
                        config.get(S3StoreOptions.REQUEST_TIMEOUT),
                        "expected a positive duration, e.g. '2 min'");
            }
            config.get(S3StoreOptions.PATH_STYLE_ACCESS);
            region(config);
        } catch (IllegalConfigurationException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            // Flink's parse failures name the key as it was spelled ("Could not parse value ... for
            // key ...").
            throw new IllegalConfigurationException(
                    "Invalid S3 configuration: "
                            + e.getMessage()
                            + spelling(config, e.getMessage()),
                    e);
        }
    }

    /** Flink's parse failure names an option's main key; say which spelling was actually set. */
    private static String spelling(ReadableConfig config, String message) {
        Map<String, String> set = config.toMap();
        for (ConfigOption<?> option :
                List.of(
                        S3StoreOptions.ACCESS_KEY,
                        S3StoreOptions.SECRET_KEY,
                        S3StoreOptions.PATH_STYLE_ACCESS)) {
            if (message != null
                    && message.contains(option.key())
                    && !set.containsKey(option.key())) {
                for (FallbackKey fallback : option.fallbackKeys()) {
                    if (set.containsKey(fallback.getKey())) {
                        return " (set as '" + fallback.getKey() + "')";
                    }
                }
            }
        }
        return "";
    }

    @Override
    public CheckpointStore create(URI checkpointRoot, ReadableConfig config) throws IOException {
        S3Store.Settings settings;
        try {
            validate(config);
            settings = settings(config);
        } catch (IllegalConfigurationException e) {
            throw new IOException(e.getMessage(), e);
        }
        ScheduledExecutorService timeouts = sdkScheduler();
        return new S3Store(
                client(config, credentials(config), timeouts),
                settings,
                partThreads(settings.parallelParts()),
                timeouts);
    }

    private static S3Store.Settings settings(ReadableConfig config) {
        boolean hasAccess = config.get(S3StoreOptions.ACCESS_KEY) != null;
        boolean hasSecret = config.get(S3StoreOptions.SECRET_KEY) != null;
        if (hasAccess != hasSecret) {
            // Names the keys only, never a value.
            throw new IllegalConfigurationException(
                    "Only one of '"
                            + S3StoreOptions.ACCESS_KEY.key()
                            + "' (or "
                            + S3Failures.fallbackKeys(S3StoreOptions.ACCESS_KEY)
                            + ") and '"
                            + S3StoreOptions.SECRET_KEY.key()
                            + "' (or "
                            + S3Failures.fallbackKeys(S3StoreOptions.SECRET_KEY)
                            + ")"
                            + " is set: set both, or neither to use the AWS default credential chain");
        }
        long partSize = config.get(S3StoreOptions.PART_SIZE).getBytes();
        long threshold = config.get(S3StoreOptions.MULTIPART_THRESHOLD).getBytes();
        int parallel = config.get(S3StoreOptions.PARALLEL_PARTS);
        int attempts = config.get(S3StoreOptions.PART_ATTEMPTS);
        int entropyLength = config.get(S3StoreOptions.ENTROPY_LENGTH);
        if (parallel < 1 || parallel > 256) {
            throw invalid(S3StoreOptions.PARALLEL_PARTS, parallel, "expected 1 to 256");
        }
        if (attempts < 1 || attempts > 100) {
            throw invalid(S3StoreOptions.PART_ATTEMPTS, attempts, "expected 1 to 100");
        }
        if (partSize < (5L << 20) || partSize > S3PartSchedule.S3_MAX_PART_BYTES) {
            throw invalid(
                    S3StoreOptions.PART_SIZE,
                    config.get(S3StoreOptions.PART_SIZE),
                    "expected 5 mb to 5 gb (S3's part limits)");
        }
        if (threshold < 1 || threshold > S3PartSchedule.S3_MAX_PART_BYTES) {
            throw invalid(
                    S3StoreOptions.MULTIPART_THRESHOLD,
                    config.get(S3StoreOptions.MULTIPART_THRESHOLD),
                    "expected 1 b to 5 gb (a single PutObject holds at most 5 gb)");
        }
        String entropyKey = config.get(S3StoreOptions.ENTROPY_KEY);
        if (entropyKey != null
                && !entropyKey.isEmpty()
                && (entropyLength < 1 || entropyLength > 64)) {
            throw invalid(
                    S3StoreOptions.ENTROPY_LENGTH,
                    entropyLength,
                    "expected 1 to 64 characters replacing '"
                            + S3StoreOptions.ENTROPY_KEY.key()
                            + "'");
        }
        return new S3Store.Settings(
                threshold, partSize, parallel, attempts, entropyKey, entropyLength);
    }

    private static IllegalConfigurationException invalid(
            ConfigOption<?> option, Object value, String expected) {
        return new IllegalConfigurationException(
                "Invalid value " + value + " for '" + option.key() + "': " + expected);
    }

    /**
     * The region to sign with: {@code s3.region}; with an endpoint but no region, us-east-1 (what
     * S3-compatible servers accept); else the SDK's region chain, which must find one.
     */
    @Nullable
    private static Region region(ReadableConfig config) {
        String region = config.get(S3StoreOptions.REGION);
        if (region != null && !region.isBlank()) {
            return Region.of(region);
        }
        String endpoint = config.get(S3StoreOptions.ENDPOINT);
        if (endpoint != null && !endpoint.isBlank()) {
            return Region.US_EAST_1;
        }
        try {
            new DefaultAwsRegionProviderChain().getRegion();
            return null; // the SDK finds it again when the client is built
        } catch (RuntimeException e) {
            throw new IllegalConfigurationException(
                    "No S3 region: set '"
                            + S3StoreOptions.REGION.key()
                            + "' (e.g. 'eu-west-1'), or '"
                            + S3StoreOptions.ENDPOINT.key()
                            + "' for an S3-compatible server; the AWS region chain"
                            + " (AWS_REGION, aws.region, profile, instance metadata) found none",
                    e);
        }
    }

    static S3Client client(ReadableConfig config) {
        return client(config, credentials(config));
    }

    /** The client of {@code config} with these credentials (tests: providers that expire). */
    static S3Client client(ReadableConfig config, AwsCredentialsProvider credentials) {
        // Nobody shuts this one down: its threads end when idle, and it is garbage then.
        return client(config, credentials, sdkScheduler());
    }

    /**
     * The client of {@code config}; the SDK schedules its call timeouts on {@code timeouts} (its
     * own scheduler would start threads that inherit the first caller's context class loader and
     * live for as long as the client). The SDK does not shut {@code timeouts} down: its owner does.
     */
    static S3Client client(
            ReadableConfig config,
            AwsCredentialsProvider credentials,
            ScheduledExecutorService timeouts) {
        S3ClientBuilder builder =
                S3Client.builder()
                        .httpClientBuilder(
                                UrlConnectionHttpClient.builder()
                                        .connectionTimeout(Duration.ofSeconds(10))
                                        .socketTimeout(Duration.ofSeconds(60)))
                        .credentialsProvider(credentials)
                        .forcePathStyle(config.get(S3StoreOptions.PATH_STYLE_ACCESS))
                        // Our part and file retries are the only ones: the SDK's would multiply
                        // them.
                        .overrideConfiguration(
                                o ->
                                        o.scheduledExecutorService(timeouts)
                                                .retryStrategy(RetryMode.STANDARD)
                                                .retryStrategy(b -> b.maxAttempts(1))
                                                .apiCallAttemptTimeout(
                                                        config.get(
                                                                S3StoreOptions.REQUEST_TIMEOUT)));
        Region region = region(config);
        if (region != null) {
            builder.region(region);
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
        ThreadPoolExecutor pool =
                new ThreadPoolExecutor(
                        parallel * 4,
                        parallel * 4,
                        60,
                        TimeUnit.SECONDS,
                        new LinkedBlockingQueue<>(),
                        neutralThreads("rcs-s3-part"));
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }

    /**
     * The scheduler of the SDK's call and attempt timeouts: neutral threads that end when idle, and
     * a cancelled timeout (every request that answers in time cancels its own) leaves the queue at
     * once instead of keeping a thread alive until it would have fired.
     */
    static ScheduledExecutorService sdkScheduler() {
        ScheduledThreadPoolExecutor scheduler =
                new ScheduledThreadPoolExecutor(5, neutralThreads("rcs-s3-sdk-timeouts"));
        scheduler.setRemoveOnCancelPolicy(true);
        scheduler.setKeepAliveTime(30, TimeUnit.SECONDS);
        scheduler.allowCoreThreadTimeOut(true);
        return scheduler;
    }

    /**
     * Daemon threads that keep nothing of the thread that happens to create them. A pool starts its
     * threads on whichever thread submits first, on a TaskManager often a job's snapshot thread:
     * its context class loader (the job's user-code class loader), its inheritable thread locals,
     * and the protection domains of the classes on its stack (which hold their class loaders) would
     * otherwise live on in our threads, keeping a finished job's classes in memory for as long as
     * the (shared) store is busy.
     */
    @SuppressWarnings("removal")
    static ThreadFactory neutralThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        ClassLoader own = S3Store.class.getClassLoader();
        return r ->
                java.security.AccessController.doPrivileged(
                        (java.security.PrivilegedAction<Thread>)
                                () -> {
                                    Thread t =
                                            new Thread(
                                                    null,
                                                    r,
                                                    prefix + "-" + n.incrementAndGet(),
                                                    0,
                                                    false);
                                    t.setContextClassLoader(own);
                                    t.setDaemon(true);
                                    return t;
                                });
    }
}
