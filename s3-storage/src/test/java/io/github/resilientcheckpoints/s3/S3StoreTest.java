package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.SupportsPendingUploads;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.CheckpointUploadException;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.UploadCancellation;
import java.io.File;
import java.io.InputStream;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/** The S3 adapter against a real S3 API server on loopback. */
class S3StoreTest {

    static final String BUCKET = "adapter";
    static final int MB = 1 << 20;

    private static S3Server server;
    private static S3Store store;
    private static S3Client sdk;
    private static Configuration conf;

    @BeforeAll
    static void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        conf = FlinkS3.config(server.endpoint());
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        store = (S3Store) new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
        sdk = server.client();
    }

    @AfterAll
    static void stop() throws Exception {
        if (sdk != null) {
            sdk.close();
        }
        if (store != null) {
            store.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private static Path target(String name) {
        return new Path("s3://" + BUCKET + "/" + UUID.randomUUID() + "/" + name);
    }

    private static byte[] get(Path path) throws Exception {
        try (InputStream in =
                sdk.getObject(b -> b.bucket(S3Store.bucket(path)).key(S3Store.key(path)))) {
            return in.readAllBytes();
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 5 * MB - 1, 5 * MB, 10 * MB - 1, 10 * MB, 10 * MB + 1})
    void putAndMultipartRoundTripAroundPartBoundaries(int size) throws Exception {
        byte[] data = new byte[size];
        new Random(size).nextBytes(data);
        long before = store.dataRequests() - store.partRetries();
        Path written = store.upload(new ByteSource(data), target("f"));
        assertThat(get(written)).isEqualTo(data);
        int expectedRequests = size < 5 * MB ? 1 : (size + 5 * MB - 1) / (5 * MB);
        // first sends only: a loopback connection closed while idle may cost a resend
        assertThat(store.dataRequests() - store.partRetries() - before).isEqualTo(expectedRequests);
        assertThat(store.listPendingUploads(new Path("s3://" + BUCKET + "/"))).isEmpty();
    }

    @Test
    void aQuarterGigabyteStreamsThroughA64MegabyteHeap() throws Exception {
        long size = 256L * MB;
        Path target = target("big");
        String java =
                System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        Process child =
                new ProcessBuilder(
                                java,
                                "-Xmx64m",
                                "-Daws.ec2MetadataDisabled=true",
                                "-cp",
                                System.getProperty("java.class.path"),
                                BoundedHeapUpload.class.getName(),
                                server.endpoint().toString(),
                                target.toString(),
                                Long.toString(size))
                        .redirectErrorStream(true)
                        .start();
        String output = new String(child.getInputStream().readAllBytes());
        assertThat(child.waitFor(300, TimeUnit.SECONDS)).isTrue();
        assertThat(child.exitValue()).as(output).isZero();
        assertThat(output).contains("uploaded " + size + " bytes");
        try (InputStream in = sdk.getObject(b -> b.bucket(BUCKET).key(S3Store.key(target)))) {
            assertThat(new SyntheticSource(size).matches(in)).isTrue();
        }
    }

    @Test
    void batchDeleteOf5000KeysTakesFiveRequests() throws Exception {
        String prefix = "batch-" + UUID.randomUUID() + "/";
        List<Path> paths = putTinyObjects(prefix, 5000);
        long before = store.deleteRequests();
        assertThat(store.deleteAll(paths)).isEmpty();
        assertThat(store.deleteRequests() - before).isEqualTo(5);
        assertThat(sdk.listObjectsV2(b -> b.bucket(BUCKET).prefix(prefix)).keyCount()).isZero();
    }

    static List<Path> putTinyObjects(String prefix, int count) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Path>> futures = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                String key = prefix + "f" + i;
                futures.add(
                        pool.submit(
                                () -> {
                                    sdk.putObject(
                                            b -> b.bucket(BUCKET).key(key),
                                            RequestBody.fromBytes(new byte[] {1}));
                                    return new Path("s3://" + BUCKET + "/" + key);
                                }));
            }
            List<Path> paths = new ArrayList<>();
            for (Future<Path> f : futures) {
                paths.add(f.get(60, TimeUnit.SECONDS));
            }
            return paths;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void pendingMultipartUploadsAreListedAndAborted() throws Exception {
        String dir = "pending-" + UUID.randomUUID();
        String uploadId =
                sdk.createMultipartUpload(b -> b.bucket(BUCKET).key(dir + "/shared/abandoned"))
                        .uploadId();
        List<SupportsPendingUploads.PendingUpload> pending =
                store.listPendingUploads(new Path("s3://" + BUCKET + "/" + dir));
        assertThat(pending)
                .extracting(SupportsPendingUploads.PendingUpload::uploadId)
                .containsExactly(uploadId);
        assertThat(pending.get(0).path().toString())
                .isEqualTo("s3://" + BUCKET + "/" + dir + "/shared/abandoned");
        store.abortPendingUpload(pending.get(0));
        assertThat(store.listPendingUploads(new Path("s3://" + BUCKET + "/" + dir))).isEmpty();
        store.abortPendingUpload(pending.get(0)); // already gone: no error
    }

    @Test
    void aMissingBucketFailsAtOnceNamingIt() throws Exception {
        ExecutorService executor = Executors.newCachedThreadPool();
        try {
            StorageMetrics metrics = new StorageMetrics();
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
                            metrics,
                            Redactor.fromConfig(conf));
            assertThatThrownBy(
                            () ->
                                    uploader.upload(
                                            new ByteSource(new byte[100]),
                                            () ->
                                                    new Path(
                                                            "s3://no-such-bucket/ckpt/"
                                                                    + UUID.randomUUID()),
                                            System.nanoTime() + TimeUnit.MINUTES.toNanos(1),
                                            new UploadCancellation()))
                    .isInstanceOfSatisfying(
                            CheckpointUploadException.class,
                            e -> {
                                assertThat(e.attempts()).isEqualTo(1);
                                assertThat(e.failureClass()).isEqualTo(FailureClass.PERMANENT);
                            })
                    .hasMessageContaining("bucket 'no-such-bucket' does not exist")
                    .hasMessageContaining("Likely fix: create the bucket")
                    .hasMessageNotContaining(S3Server.SECRET_KEY);
        } finally {
            executor.shutdownNow();
        }
    }

    @Test
    void entropyMarkerIsReplacedInDataFileKeys() throws Exception {
        Configuration withEntropy = new Configuration(conf);
        withEntropy.setString("s3.entropy.key", "_entropy_");
        withEntropy.setString("s3.entropy.length", "6");
        try (CheckpointStore entropic =
                new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), withEntropy)) {
            Path target =
                    new Path("s3://" + BUCKET + "/_entropy_/flink/job/chk-1/" + UUID.randomUUID());
            Path written = entropic.upload(new ByteSource(new byte[] {1, 2, 3}), target);
            assertThat(written.toString())
                    .doesNotContain("_entropy_")
                    .matches("s3://" + BUCKET + "/[a-z0-9]{6}/flink/job/chk-1/.*");
            assertThat(get(written)).containsExactly(1, 2, 3);
        }
    }
}
