package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The S3 adapter at S3's limits, against a real S3 API server behind the fault proxy:
 * least-privilege policies, expiring credentials, lost answers of non-idempotent requests, the
 * part-count limit and one huge upload sharing the part threads with small ones.
 */
class S3LimitsTest {

    /**
     * These tests interrupt the JUnit thread on purpose: a flag left behind by a failed assertion
     * would make the next test class's store calls look cancelled (no resend).
     */
    @org.junit.jupiter.api.AfterEach
    void leaveNoInterruptBehind() {
        Thread.interrupted();
    }

    static final String BUCKET = "limits";
    static final long MB = 1 << 20;

    private ProxiedS3 s3;
    private FaultProxy proxy;
    private S3Client direct;
    private final List<AutoCloseable> closeAfter = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        s3 = new ProxiedS3(BUCKET);
        proxy = s3.proxy;
        direct = s3.server.client();
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closeAfter) {
            c.close();
        }
        direct.close();
        s3.close();
    }

    private S3Store store(int parallelParts) throws IOException {
        Configuration conf = FlinkS3.config(proxy.endpoint());
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        conf.setString(S3StoreOptions.PARALLEL_PARTS.key(), String.valueOf(parallelParts));
        S3Store store =
                (S3Store) new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
        closeAfter.add(0, store);
        return store;
    }

    private S3Store store(AwsCredentialsProvider credentials, int maxParts) {
        Configuration conf = FlinkS3.config(proxy.endpoint());
        S3Store store =
                new S3Store(
                        S3StoreProvider.client(conf, credentials),
                        new S3Store.Settings(5 * MB, 5 * MB, 2, 4, null, 4, maxParts),
                        S3StoreProvider.partThreads(2));
        closeAfter.add(0, store);
        return store;
    }

    private static Path target() {
        return new Path("s3://" + BUCKET + "/" + UUID.randomUUID() + "/f");
    }

    private void assertStored(Path written, SyntheticSource source) throws IOException {
        try (InputStream in = direct.getObject(b -> b.bucket(BUCKET).key(S3Store.key(written)))) {
            assertThat(source.matches(in)).as("bytes of " + written).isTrue();
        }
    }

    private List<String> pendingUploads() {
        List<String> ids = new ArrayList<>();
        direct.listMultipartUploads(b -> b.bucket(BUCKET))
                .uploads()
                .forEach(u -> ids.add(u.uploadId()));
        return ids;
    }

    // ------------------------------------------------------------------ item 3: HeadBucket 403

    @Test
    void aBucketWhoseHeadAndListingAreForbiddenIsStillWrittenWhenPutsAreAllowed() throws Exception {
        // A least-privilege policy: s3:ListBucket withheld (HeadBucket and listing answer 403),
        // s3:PutObject and the multipart actions allowed.
        proxy.denyIf =
                line ->
                        line.startsWith("HEAD /" + BUCKET + " ")
                                || line.startsWith("HEAD /" + BUCKET + "/ ")
                                || line.startsWith("GET /" + BUCKET + "?")
                                || line.startsWith("GET /" + BUCKET + "/?");
        S3Store store = store(2);
        SyntheticSource small = new SyntheticSource(1000);
        assertStored(store.upload(small, target()), small);
        SyntheticSource large = new SyntheticSource(12 * MB);
        assertStored(store.upload(large, target()), large);
    }

    @Test
    void aMissingBucketIsStillNamedAtOnce() throws Exception {
        S3Store store = store(2);
        assertThatThrownBy(
                        () ->
                                store.upload(
                                        new SyntheticSource(1000),
                                        new Path("s3://no-such-bucket/f")))
                .hasMessageContaining("no-such-bucket")
                .satisfies(e -> assertThat(store.classify(e)).isEqualTo(FailureClass.PERMANENT));
    }

    // ------------------------------------------------------------------ item 4: expiring
    // credentials

    /**
     * Session credentials whose token the server has stopped accepting, until the provider
     * refreshes.
     */
    private AwsCredentialsProvider expiringUntilRefused() {
        return () ->
                proxy.expiredTokens.get() == 0
                        ? AwsSessionCredentials.create(
                                S3Server.ACCESS_KEY, S3Server.SECRET_KEY, "stale-session-token")
                        : AwsBasicCredentials.create(S3Server.ACCESS_KEY, S3Server.SECRET_KEY);
    }

    private static boolean carriesStaleToken(String head) {
        return head.toLowerCase(Locale.ROOT).contains("x-amz-security-token: stale-session-token");
    }

    @Test
    void anExpiredTokenIsResentWithTheProvidersRefreshedCredentials() throws Exception {
        proxy.expiredTokenIf = head -> head.startsWith("PUT ") && carriesStaleToken(head);
        S3Store store = store(expiringUntilRefused(), S3PartSchedule.S3_MAX_PARTS);
        SyntheticSource small = new SyntheticSource(1000);
        assertStored(store.upload(small, target()), small);
        assertThat(proxy.expiredTokens.get()).as("the server refused the first token").isPositive();
    }

    @Test
    void aTokenThatStaysExpiredFailsAsPermanentNamingTheCredentials() throws Exception {
        proxy.expiredTokenIf = head -> head.startsWith("PUT ") && carriesStaleToken(head);
        S3Store store =
                store(
                        () ->
                                AwsSessionCredentials.create(
                                        S3Server.ACCESS_KEY,
                                        S3Server.SECRET_KEY,
                                        "stale-session-token"),
                        S3PartSchedule.S3_MAX_PARTS);
        assertThatThrownBy(() -> store.upload(new SyntheticSource(1000), target()))
                .hasMessageContaining("ExpiredToken")
                .hasMessageContaining("s3.access-key")
                .hasMessageNotContaining(S3Server.SECRET_KEY)
                .satisfies(e -> assertThat(store.classify(e)).isEqualTo(FailureClass.PERMANENT));
    }

    // ------------------------------------------------------------------ item 5: non-idempotent
    // requests

    @Test
    void aCompletionWhoseAnswerWasLostIsRecognisedByTheObject() throws Exception {
        proxy.dropResponseIf = line -> line.startsWith("POST ") && line.contains("uploadId=");
        proxy.responsesToDrop.set(1);
        S3Store store = store(2);
        SyntheticSource source = new SyntheticSource(12 * MB + 7);
        Path written = store.upload(source, target());
        assertThat(proxy.droppedResponses.get()).isEqualTo(1);
        assertThat(proxy.noSuchUploads.get())
                .as("the resent completion was answered NoSuchUpload")
                .isPositive();
        assertStored(written, source);
        assertThat(pendingUploads()).isEmpty();
    }

    @Test
    void aCreationWhoseAnswerWasLostLeavesNoUploadBehind() throws Exception {
        proxy.dropResponseIf = line -> line.startsWith("POST ") && line.contains("?uploads");
        proxy.responsesToDrop.set(1);
        S3Store store = store(2);
        SyntheticSource source = new SyntheticSource(12 * MB);
        assertStored(store.upload(source, target()), source);
        assertThat(proxy.droppedResponses.get()).isEqualTo(1);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!pendingUploads().isEmpty() && System.nanoTime() < end) {
            Thread.sleep(100);
        }
        assertThat(pendingUploads())
                .as("the upload created by the lost request is aborted")
                .isEmpty();
    }

    // ------------------------------------------------------------------ item 2: part-count limit

    /** A store and a server that both allow 4 parts per upload. */
    private S3Store fourPartStore() {
        proxy.maxPartNumber = 4;
        return store(
                StaticCredentialsProvider.create(
                        AwsBasicCredentials.create(S3Server.ACCESS_KEY, S3Server.SECRET_KEY)),
                4);
    }

    @Test
    void aFileOfMoreUnitsThanTheServerAllowsPartsGoesUpInGrowingParts() throws Exception {
        S3Store store = fourPartStore();
        SyntheticSource source = new SyntheticSource(12 * 5 * MB + 123);
        assertStored(store.upload(source, target()), source);
        assertThat(sizesByPart()).containsExactly(5 * MB, 10 * MB, 20 * MB, 25 * MB + 123);
    }

    @Test
    void pipelinedPartsOfOneUnitAreJoinedIntoGrowingParts() throws Exception {
        S3Store store = fourPartStore();
        SyntheticSource source = new SyntheticSource(12 * 5 * MB + 123);
        SupportsPartUploads.PartUpload upload = store.startPartUpload(target());
        for (int i = 0; i < 12; i++) {
            upload.submitPart(i + 1, S3RequestBodies.slice(source, i * 5 * MB, 5 * MB));
        }
        Path written = upload.complete(13, S3RequestBodies.slice(source, 12 * 5 * MB, 123));
        assertStored(written, source);
        assertThat(sizesByPart()).containsExactly(5 * MB, 10 * MB, 20 * MB, 25 * MB + 123);
    }

    /** The size of each part number the server received (a part resent counts once). */
    private List<Long> sizesByPart() {
        TreeMap<Integer, Long> sizes = new TreeMap<>();
        for (String seen : proxy.partsSeen) {
            String[] nl = seen.split(":");
            sizes.put(Integer.parseInt(nl[0]), Long.parseLong(nl[1]));
        }
        return new ArrayList<>(sizes.values());
    }

    // ------------------------------------------------------------------ item 6: head-of-line
    // blocking

    @Test
    void aHugeUploadDoesNotHoldUpThePartsOfSmallFiles() throws Exception {
        S3Store store = store(1);
        CountDownLatch release = new CountDownLatch(1);
        SyntheticSource hugeBytes = new SyntheticSource(12 * 5 * MB);
        UploadSource huge =
                new UploadSource() {
                    @Override
                    public long length() {
                        return hugeBytes.length();
                    }

                    @Override
                    public InputStream open() throws IOException {
                        try {
                            release.await();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new InterruptedIOException();
                        }
                        return hugeBytes.open();
                    }
                };
        ExecutorService writer = Executors.newSingleThreadExecutor();
        try {
            Future<Path> hugeUpload = writer.submit(() -> store.upload(huge, target()));
            Thread.sleep(200); // its parts are queued first
            SyntheticSource small = new SyntheticSource(2 * 5 * MB);
            ExecutorService other = Executors.newSingleThreadExecutor();
            try {
                Future<Path> smallUpload = other.submit(() -> store.upload(small, target()));
                assertStored(smallUpload.get(60, TimeUnit.SECONDS), small);
                assertThat(hugeUpload.isDone()).as("the huge upload is still held").isFalse();
            } finally {
                release.countDown();
                other.shutdownNow();
            }
            assertStored(hugeUpload.get(5, TimeUnit.MINUTES), hugeBytes);
        } finally {
            release.countDown();
            writer.shutdownNow();
        }
    }
}
