package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.CheckpointUploadException;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.UploadCancellation;
import java.net.URI;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProviderChain;
import software.amazon.awssdk.auth.credentials.SystemPropertyCredentialsProvider;
import software.amazon.awssdk.core.retry.RetryMode;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Credentials against an S3 server that enforces them (S3Proxy with AWS v2/v4 signatures): failures
 * that no retry can fix fail on the first attempt, name the keys to set, and never carry the
 * secret.
 */
class S3CredentialsTest {

    static final String BUCKET = "credentials";

    /** A wrong secret: the server must refuse it, and it must never appear in a message. */
    static final String WRONG_SECRET = "wrong-secret-value-must-not-leak-7f3a";

    private static S3Server server;

    @BeforeAll
    static void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private static Path target() {
        return new Path("s3://" + BUCKET + "/" + UUID.randomUUID() + "/f");
    }

    private static Configuration connection() {
        Configuration conf = new Configuration();
        conf.setString("s3.endpoint", server.endpoint().toString());
        conf.setString("s3.region", S3Server.REGION);
        return conf;
    }

    @Test
    void wrongCredentialsFailOnTheFirstAttemptAsPermanentWithoutTheSecret() throws Exception {
        Configuration conf = connection();
        conf.setString("s3.access-key", S3Server.ACCESS_KEY);
        conf.setString("s3.secret-key", WRONG_SECRET);
        conf.setString("s3.path-style-access", "true");
        try (CheckpointStore store =
                new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf)) {
            // No redaction help: the adapter's own messages must not carry the secret.
            assertThatThrownBy(() -> uploadWithRetries(store))
                    .isInstanceOfSatisfying(
                            CheckpointUploadException.class,
                            e -> {
                                assertThat(e.attempts()).isEqualTo(1);
                                assertThat(e.failureClass()).isEqualTo(FailureClass.PERMANENT);
                                assertThat(Redactor.NONE.describe(e)).doesNotContain(WRONG_SECRET);
                            })
                    .hasMessageContaining("s3.access-key")
                    .hasMessageContaining("s3.secret-key")
                    .hasMessageNotContaining(WRONG_SECRET);
        }
    }

    @Test
    void credentialsThatCannotBeLoadedFailOnTheFirstAttemptAsPermanentNamingTheKeys()
            throws Exception {
        assumeTrue(
                System.getProperty("aws.accessKeyId") == null,
                "aws.accessKeyId is set in this JVM");
        // A real SDK credential chain that finds nothing: what the default chain does on a host
        // without credentials (its message starts "Unable to load credentials").
        S3Client client =
                S3Client.builder()
                        .endpointOverride(server.endpoint())
                        .region(Region.of(S3Server.REGION))
                        .forcePathStyle(true)
                        .credentialsProvider(
                                AwsCredentialsProviderChain.of(
                                        SystemPropertyCredentialsProvider.create()))
                        .overrideConfiguration(
                                o ->
                                        o.retryStrategy(RetryMode.STANDARD)
                                                .retryStrategy(b -> b.maxAttempts(1)))
                        .build();
        S3Store.Settings settings = new S3Store.Settings(16L << 20, 8L << 20, 2, 4, null, 4);
        try (S3Store store = new S3Store(client, settings, Executors.newFixedThreadPool(2))) {
            assertThatThrownBy(() -> uploadWithRetries(store))
                    .isInstanceOfSatisfying(
                            CheckpointUploadException.class,
                            e -> {
                                assertThat(e.attempts()).isEqualTo(1);
                                assertThat(e.failureClass()).isEqualTo(FailureClass.PERMANENT);
                            })
                    .hasMessageContaining("s3.access-key")
                    .hasMessageContaining("s3.secret-key")
                    .hasMessageContaining("credential chain");
        }
    }

    private static void uploadWithRetries(CheckpointStore store) throws Exception {
        ExecutorService executor = Executors.newCachedThreadPool();
        try {
            RetryingUploader uploader =
                    new RetryingUploader(
                            store,
                            new RetryPolicy(
                                    10,
                                    Duration.ofMillis(10),
                                    Duration.ofMillis(100),
                                    Duration.ofSeconds(30)),
                            executor,
                            Ticker.SYSTEM,
                            () -> 0.5,
                            new StorageMetrics(),
                            Redactor.NONE);
            uploader.upload(
                    new ByteSource(new byte[100]),
                    S3CredentialsTest::target,
                    System.nanoTime() + TimeUnit.MINUTES.toNanos(1),
                    new UploadCancellation());
        } finally {
            executor.shutdownNow();
        }
    }
}
