package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.s3.FaultProxy.Fault;
import io.github.resilientcheckpoints.s3.FaultProxy.Shape;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsExclusiveCreate;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.retry.RetryMode;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;

/**
 * Every fault shape against every operation of the S3 store, behind the fault proxy.
 *
 * <ul>
 *   <li>{@code ONCE}: the first matching request fails. Operations with their own per-request
 *       resend (PutObject, UploadPart, the exclusive create of {@code _metadata}, DeleteObjects)
 *       absorb it: the operation succeeds and the bytes round-trip. Single deletes and listings are
 *       not resent by the store (the caller's retry loop is): they succeed, or fail with the
 *       shape's class and succeed when called again. The bucket check is advisory: the upload
 *       behind it succeeds.
 *   <li>{@code PERSISTENT}: every matching request fails; the operation fails with the shape's
 *       class (a trickle is slow, not a failure, and succeeds).
 * </ul>
 *
 * Waits between resends are skipped (injected sleeper); the client's timeouts are short.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class S3FaultMatrixTest {

    static final String BUCKET = "matrix";
    static final long MB = 1 << 20;
    static final int ATTEMPTS = 3;

    enum Op {
        PUT_OBJECT,
        UPLOAD_PART,
        CREATE_EXCLUSIVE,
        DELETE,
        LIST,
        BATCH_DELETE,
        BUCKET_CHECK;

        boolean resendsItself() {
            return this != DELETE && this != LIST;
        }
    }

    enum Mode {
        ONCE,
        PERSISTENT
    }

    static final List<Fault> SHAPES =
            List.of(
                    new Fault(Shape.ERROR_XML, 500, "InternalError"),
                    new Fault(Shape.ERROR_XML, 502, "BadGateway"),
                    new Fault(Shape.ERROR_XML, 503, "SlowDown"),
                    new Fault(Shape.ERROR_XML, 504, "GatewayTimeout"),
                    new Fault(Shape.ERROR_EMPTY, 500, null),
                    new Fault(Shape.ERROR_EMPTY, 502, null),
                    new Fault(Shape.ERROR_EMPTY, 503, null),
                    new Fault(Shape.ERROR_EMPTY, 504, null),
                    new Fault(Shape.ERROR_HTML, 500, null),
                    new Fault(Shape.ERROR_HTML, 502, null),
                    new Fault(Shape.ERROR_HTML, 503, null),
                    new Fault(Shape.ERROR_HTML, 504, null),
                    new Fault(Shape.ERROR_XML, 429, "SlowDown"),
                    new Fault(Shape.ERROR_XML, 400, "RequestTimeout"),
                    new Fault(Shape.ERROR_XML, 403, "RequestTimeTooSkewed"),
                    new Fault(Shape.ERROR_XML, 403, "ExpiredToken"),
                    Fault.of(Shape.RESET_BEFORE_ANSWER),
                    Fault.of(Shape.CLOSE_MID_BODY),
                    Fault.of(Shape.CLOSE_BEFORE_BODY),
                    Fault.of(Shape.NO_ANSWER),
                    Fault.of(Shape.TRUNCATED_ANSWER),
                    Fault.of(Shape.TRICKLE_ANSWER));

    private S3Server server;
    private FaultProxy proxy;
    private S3Client direct;
    private S3Store store;
    private S3Store timeoutStore;

    @BeforeAll
    void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        proxy = new FaultProxy(server.endpoint());
        direct = server.client();
        store = store(proxy.endpoint(), Duration.ofSeconds(10), Duration.ofSeconds(30));
        // The read timeout: the socket's, well below the attempt timeout.
        timeoutStore = store(proxy.endpoint(), Duration.ofMillis(600), Duration.ofSeconds(30));
    }

    @AfterEach
    void disarm() {
        proxy.clearFaults();
    }

    @AfterAll
    void stop() throws Exception {
        timeoutStore.close();
        store.close();
        direct.close();
        proxy.close();
        server.close();
    }

    static S3Store store(URI endpoint, Duration socketTimeout, Duration attemptTimeout) {
        return store(endpoint, socketTimeout, attemptTimeout, ATTEMPTS);
    }

    static S3Store store(
            URI endpoint, Duration socketTimeout, Duration attemptTimeout, int attempts) {
        S3Client client =
                S3Client.builder()
                        .httpClientBuilder(
                                UrlConnectionHttpClient.builder()
                                        .connectionTimeout(Duration.ofSeconds(2))
                                        .socketTimeout(socketTimeout))
                        .credentialsProvider(
                                StaticCredentialsProvider.create(
                                        AwsBasicCredentials.create(
                                                S3Server.ACCESS_KEY, S3Server.SECRET_KEY)))
                        .forcePathStyle(true)
                        .region(Region.of(S3Server.REGION))
                        .endpointOverride(endpoint)
                        .overrideConfiguration(
                                o ->
                                        o.retryStrategy(RetryMode.STANDARD)
                                                .retryStrategy(b -> b.maxAttempts(1))
                                                .apiCallAttemptTimeout(attemptTimeout))
                        .build();
        return new S3Store(
                client,
                new S3Store.Settings(5 * MB, 5 * MB, 2, attempts, null, 4),
                S3StoreProvider.partThreads(2),
                System::nanoTime,
                nanos -> {});
    }

    /** The class the store gives a failure of this shape (table in docs/fault-shapes.md). */
    static FailureClass expectedClass(Fault fault, Op op, Mode mode) {
        if (fault.status() == 503 || fault.status() == 429) {
            return FailureClass.THROTTLED;
        }
        if ("ExpiredToken".equals(fault.code())
                && mode == Mode.PERSISTENT
                && (op == Op.PUT_OBJECT || op == Op.UPLOAD_PART || op == Op.CREATE_EXCLUSIVE)) {
            // Refreshed on every resend, still refused: the credentials provider does not refresh.
            return FailureClass.PERMANENT;
        }
        return FailureClass.TRANSIENT;
    }

    /** Whether the operation succeeds although every matching request gets the fault. */
    static boolean survivesPersistently(Fault fault, Op op) {
        return fault.shape() == Shape.TRICKLE_ANSWER
                || op == Op.BUCKET_CHECK
                // Every attempt is stored, its answer cut: the resend's 412 finds our bytes.
                || (fault.shape() == Shape.TRUNCATED_ANSWER && op == Op.CREATE_EXCLUSIVE);
    }

    Stream<Arguments> cells() {
        List<Arguments> cells = new ArrayList<>();
        for (Fault f : SHAPES) {
            for (Op op : Op.values()) {
                for (Mode mode : Mode.values()) {
                    cells.add(Arguments.of(f, op, mode));
                }
            }
        }
        return cells.stream();
    }

    @ParameterizedTest(name = "{0} on {1}, {2}")
    @MethodSource("cells")
    void faultShape(Fault fault, Op op, Mode mode) throws Exception {
        S3Store s = fault.shape() == Shape.NO_ANSWER ? timeoutStore : store;
        Cell cell = new Cell(s, op);
        proxy.inject(fault, cell.requests(), mode == Mode.ONCE ? 1 : Integer.MAX_VALUE);
        if (mode == Mode.PERSISTENT && !survivesPersistently(fault, op)) {
            assertThatThrownBy(cell::run)
                    .isInstanceOf(IOException.class)
                    .satisfies(
                            e ->
                                    assertThat(s.classify(e))
                                            .as("class of %s", e)
                                            .isEqualTo(expectedClass(fault, op, mode)));
            assertThat(proxy.faultsInjected.get()).isPositive();
            return;
        }
        if (mode == Mode.ONCE && !op.resendsItself() && fault.shape() != Shape.TRICKLE_ANSWER) {
            try {
                cell.run();
            } catch (IOException e) {
                assertThat(s.classify(e))
                        .as("class of %s", e)
                        .isEqualTo(expectedClass(fault, op, mode));
                cell.run(); // the caller's retry
            }
        } else {
            cell.run();
        }
        cell.verify();
    }

    /** An unreachable store: every operation fails, transient (the deadline bounds the retries). */
    enum Unreachable {
        CONNECTION_REFUSED,
        UNRESOLVABLE_HOST
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Unreachable.class)
    void unreachableStoreFailsEveryOperationTransiently(Unreachable how) throws Exception {
        URI endpoint;
        if (how == Unreachable.CONNECTION_REFUSED) {
            try (ServerSocket closed = new ServerSocket()) {
                closed.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
                endpoint = URI.create("http://127.0.0.1:" + closed.getLocalPort());
            }
        } else {
            endpoint = URI.create("http://nonexistent.invalid:9000");
        }
        try (S3Store s = store(endpoint, Duration.ofSeconds(2), Duration.ofSeconds(5))) {
            for (Op op : Op.values()) {
                Cell cell = new Cell(s, op);
                assertThatThrownBy(cell::run)
                        .as(op.toString())
                        .isInstanceOf(IOException.class)
                        .satisfies(
                                e ->
                                        assertThat(s.classify(e))
                                                .as("%s: class of %s", op, e)
                                                .isEqualTo(FailureClass.TRANSIENT));
            }
        }
    }

    /**
     * A part's answer whose head was cut arrives without its ETag, and the JDK's client takes it as
     * complete: the part is resent instead of completing the upload with a missing ETag.
     */
    @org.junit.jupiter.api.Test
    void aPartAnswerWithoutItsEtagIsResent() throws Exception {
        Cell cell = new Cell(store, Op.UPLOAD_PART);
        proxy.inject(Fault.of(Shape.HEAD_CUT), cell.requests(), 1);
        cell.run();
        assertThat(proxy.faultsInjected.get()).isPositive();
        cell.verify();
    }

    /**
     * 503 with an empty body (no error code), as a proxy or load balancer answers, on 70 % of
     * PutObject and UploadPart requests: the store's per-request resends absorb them within the
     * request budget, and every one is a throttle signal.
     */
    @org.junit.jupiter.api.Test
    void seventyPercentOf503WithoutCodeAreAbsorbedWithinTheRequestBudget() throws Exception {
        // 0.7^50: no request runs out of attempts in any run.
        try (S3Store s =
                store(proxy.endpoint(), Duration.ofSeconds(10), Duration.ofSeconds(30), 50)) {
            java.util.concurrent.atomic.AtomicLong signals =
                    new java.util.concurrent.atomic.AtomicLong();
            s.onThrottleSignal(signals::incrementAndGet);
            String dir = "seventy-" + UUID.randomUUID();
            proxy.injectRandomly(
                    new Fault(Shape.ERROR_EMPTY, 503, null),
                    line -> line.startsWith("PUT ") && line.contains(dir),
                    0.7);
            for (long size : new long[] {1000, 70_000, 11 * MB + 5}) {
                SyntheticSource source = new SyntheticSource(size);
                String key = dir + "/" + size;
                Path written = s.upload(source, new Path("s3://" + BUCKET + "/" + key));
                assertThat(written.toString()).endsWith(key);
                try (InputStream in = direct.getObject(b -> b.bucket(BUCKET).key(key))) {
                    assertThat(source.matches(in)).as("bytes of %s", key).isTrue();
                }
            }
            assertThat(proxy.faultsInjected.get()).as("503s answered").isPositive();
            assertThat(signals.get()).isEqualTo(proxy.faultsInjected.get());
            assertThat(s.listPendingUploads(new Path("s3://" + BUCKET + "/" + dir))).isEmpty();
        }
    }

    /** When the budget runs out, the failure is a throttled IOException the caller retries. */
    @org.junit.jupiter.api.Test
    void a503WithoutCodeOnEveryAttemptEndsThrottled() throws Exception {
        String key = "always-503-" + UUID.randomUUID();
        proxy.inject(
                new Fault(Shape.ERROR_EMPTY, 503, null),
                line -> line.startsWith("PUT ") && line.contains(key),
                Integer.MAX_VALUE);
        assertThatThrownBy(
                        () ->
                                store.upload(
                                        new SyntheticSource(1000),
                                        new Path("s3://" + BUCKET + "/" + key)))
                .isInstanceOf(IOException.class)
                .satisfies(e -> assertThat(store.classify(e)).isEqualTo(FailureClass.THROTTLED));
    }

    /** One operation on fresh keys: its setup, the requests the fault targets, its check. */
    private final class Cell {
        final S3Store s;
        final Op op;
        final String dir = "m" + UUID.randomUUID().toString().replace("-", "");
        final String key = dir + "/f";
        final String bucket;
        final SyntheticSource source;
        final List<String> keys = new ArrayList<>();

        Cell(S3Store s, Op op) {
            this.s = s;
            this.op = op;
            this.bucket = op == Op.BUCKET_CHECK ? dir : BUCKET;
            this.source = new SyntheticSource(op == Op.UPLOAD_PART ? 5 * MB + 1000 : 1000);
            for (int i = 0; i < 3; i++) {
                keys.add(dir + "/" + i);
            }
            if (s != store && s != timeoutStore) {
                return; // unreachable: nothing to set up
            }
            if (op == Op.BUCKET_CHECK) {
                direct.createBucket(b -> b.bucket(bucket));
            }
            if (op == Op.DELETE || op == Op.LIST || op == Op.BATCH_DELETE) {
                for (String k : keys) {
                    direct.putObject(b -> b.bucket(BUCKET).key(k), RequestBody.fromString(k));
                }
            }
        }

        Path path(String k) {
            return new Path("s3://" + bucket + "/" + k);
        }

        Predicate<String> requests() {
            switch (op) {
                case PUT_OBJECT:
                case CREATE_EXCLUSIVE:
                    return line -> line.startsWith("PUT ") && line.contains("/" + key);
                case UPLOAD_PART:
                    return line -> line.contains("/" + key) && line.contains("partNumber=");
                case DELETE:
                    return line -> line.startsWith("DELETE ") && line.contains("/" + keys.get(0));
                case LIST:
                    return line -> line.contains("list-type=2") && line.contains(dir);
                case BATCH_DELETE:
                    return line -> line.startsWith("POST /" + BUCKET) && line.contains("delete");
                case BUCKET_CHECK:
                    return line ->
                            line.startsWith("HEAD /" + bucket + " ")
                                    || line.startsWith("HEAD /" + bucket + "/ ");
                default:
                    throw new IllegalStateException();
            }
        }

        void run() throws IOException {
            switch (op) {
                case PUT_OBJECT:
                case UPLOAD_PART:
                case BUCKET_CHECK:
                    s.upload(source, path(key));
                    return;
                case CREATE_EXCLUSIVE:
                    s.capability(SupportsExclusiveCreate.class)
                            .orElseThrow()
                            .createExclusive(source, path(key));
                    return;
                case DELETE:
                    s.delete(path(keys.get(0)));
                    return;
                case LIST:
                    {
                        List<String> listed =
                                s.listFiles(path(dir)).stream()
                                        .map(StoredFile::path)
                                        .map(Path::toString)
                                        .collect(Collectors.toList());
                        assertThat(listed).hasSize(keys.size());
                        return;
                    }
                case BATCH_DELETE:
                    {
                        List<Path> paths = new ArrayList<>();
                        for (String k : keys) {
                            paths.add(path(k));
                        }
                        assertThat(s.deleteAll(paths)).as("not deleted").isEmpty();
                        return;
                    }
                default:
                    throw new IllegalStateException();
            }
        }

        void verify() throws IOException {
            switch (op) {
                case PUT_OBJECT:
                case UPLOAD_PART:
                case CREATE_EXCLUSIVE:
                case BUCKET_CHECK:
                    try (InputStream in = direct.getObject(b -> b.bucket(bucket).key(key))) {
                        assertThat(source.matches(in)).as("bytes round-trip").isTrue();
                    }
                    assertThat(s.listPendingUploads(path(""))).isEmpty();
                    return;
                case DELETE:
                    assertThatThrownBy(
                                    () -> direct.headObject(b -> b.bucket(BUCKET).key(keys.get(0))))
                            .isInstanceOf(NoSuchKeyException.class);
                    return;
                case BATCH_DELETE:
                    for (String k : keys) {
                        assertThatThrownBy(() -> direct.headObject(b -> b.bucket(BUCKET).key(k)))
                                .isInstanceOf(NoSuchKeyException.class);
                    }
                    return;
                default:
                    return;
            }
        }
    }
}
