package io.github.resilientcheckpoints.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.storage.jm.MetadataWriter;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.testing.ScriptedStore;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.UploadCancellation;
import java.io.EOFException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The generic store (Flink's {@code FileSystem}, whatever plugin is behind it) sees store failures
 * only as exceptions and messages. Each fault shape, as a Flink S3 or HDFS file system surfaces it,
 * gets its class; a retryable one injected once is absorbed by the retried upload (the bytes
 * arrive), a permanent one ends the upload at once with the store's answer in the message.
 */
class GenericFaultShapesTest {

    @TempDir java.nio.file.Path remote;

    private final ExecutorService executor = Executors.newCachedThreadPool();

    @AfterEach
    void tearDown() throws InterruptedException {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    static Stream<Arguments> shapes() {
        return Stream.of(
                shape(
                        "503 SlowDown with code",
                        io("Status Code: 503; Error Code: SlowDown"),
                        FailureClass.THROTTLED),
                shape(
                        "503 without code or body",
                        io("Status Code: 503; Error Code: null"),
                        FailureClass.THROTTLED),
                shape(
                        "503 with HTML body",
                        io(
                                "<html><head><title>503 Service Temporarily Unavailable</title></head></html> (503)"),
                        FailureClass.THROTTLED),
                shape("429 without code", io("Status Code: 429"), FailureClass.THROTTLED),
                shape(
                        "500 InternalError",
                        io("Status Code: 500; Error Code: InternalError"),
                        FailureClass.TRANSIENT),
                shape("500 without code", io("Status Code: 500"), FailureClass.TRANSIENT),
                shape(
                        "502 HTML from a proxy",
                        io("<html><body><h1>502 Bad Gateway</h1></body></html>"),
                        FailureClass.TRANSIENT),
                shape("504 without body", io("Status Code: 504"), FailureClass.TRANSIENT),
                shape(
                        "400 RequestTimeout",
                        io("Status Code: 400; Error Code: RequestTimeout"),
                        FailureClass.TRANSIENT),
                shape(
                        "403 ExpiredToken",
                        io("Status Code: 403; Error Code: ExpiredToken"),
                        FailureClass.PERMANENT),
                shape(
                        "403 RequestTimeTooSkewed",
                        io("Status Code: 403; Error Code: RequestTimeTooSkewed"),
                        FailureClass.PERMANENT),
                shape(
                        "403 access denied",
                        new AccessDeniedException("/bucket/key", null, "Access Denied"),
                        FailureClass.PERMANENT),
                shape(
                        "connection reset",
                        new SocketException("Connection reset"),
                        FailureClass.TRANSIENT),
                shape(
                        "connection refused",
                        new ConnectException("Connection refused"),
                        FailureClass.TRANSIENT),
                shape(
                        "closed mid-body",
                        new EOFException("Unexpected end of stream"),
                        FailureClass.TRANSIENT),
                shape(
                        "truncated response",
                        io(
                                "Premature end of Content-Length delimited message body (expected: 512; received: 17)"),
                        FailureClass.TRANSIENT),
                shape(
                        "read timeout",
                        new SocketTimeoutException("Read timed out"),
                        FailureClass.TRANSIENT),
                shape(
                        "connect timeout",
                        new SocketTimeoutException("connect timed out"),
                        FailureClass.TRANSIENT),
                shape(
                        "timeout wrapped",
                        new IOException(
                                "request failed", new SocketTimeoutException("Read timed out")),
                        FailureClass.TRANSIENT),
                shape(
                        "unresolvable host",
                        new UnknownHostException("nonexistent.invalid"),
                        FailureClass.TRANSIENT),
                shape(
                        "no route to host",
                        new NoRouteToHostException("No route to host"),
                        FailureClass.TRANSIENT));
    }

    private static Arguments shape(String name, IOException failure, FailureClass expected) {
        return Arguments.of(name, failure, expected);
    }

    private static IOException io(String message) {
        return new IOException(message);
    }

    @ParameterizedTest(name = "{0} -> {2}")
    @MethodSource("shapes")
    void eachShapeGetsItsClassAndTheUploadDoesWhatTheClassSays(
            String name, IOException failure, FailureClass expected) throws Exception {
        ScriptedStore store = new ScriptedStore().thenFail(failure);
        assertThat(GenericFailureClassifier.classify(failure)).as(name).isEqualTo(expected);
        assertThat(store.classify(failure)).as(name).isEqualTo(expected);

        byte[] data = new byte[4096];
        data[17] = 42;
        RetryingUploader uploader = uploader(store);
        if (expected == FailureClass.PERMANENT) {
            assertThatThrownBy(() -> upload(uploader, data))
                    .hasMessageContaining("permanently")
                    .hasMessageContaining(failure.getMessage());
            assertThat(store.attempts()).isEqualTo(1);
        } else {
            Path written = upload(uploader, data);
            assertThat(Files.readAllBytes(Paths.get(written.toUri()))).isEqualTo(data);
            assertThat(store.attempts()).isEqualTo(2);
        }
    }

    @ParameterizedTest(name = "_metadata: {0} -> {2}")
    @MethodSource("shapes")
    void theMetadataWriteDoesWhatTheClassSaysToo(
            String name, IOException failure, FailureClass expected) throws Exception {
        ScriptedStore store = new ScriptedStore().thenFail(failure);
        Files.createDirectories(remote.resolve("chk-2"));
        Path target = new Path(remote.resolve("chk-2/_metadata").toUri());
        byte[] data = new byte[999];
        data[3] = 7;
        MetadataWriter writer =
                new MetadataWriter(
                        store,
                        new RetryPolicy(
                                5,
                                Duration.ofMillis(1),
                                Duration.ofMillis(5),
                                Duration.ofSeconds(30)),
                        Ticker.SYSTEM,
                        Sleeper.SYSTEM,
                        () -> 0.5,
                        new StorageMetrics(),
                        Redactor.NONE,
                        executor,
                        TimeUnit.SECONDS.toNanos(30));
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        if (expected == FailureClass.PERMANENT) {
            assertThatThrownBy(() -> writer.write(data, target, deadline))
                    .hasMessageContaining("permanently")
                    .hasMessageContaining(failure.getMessage());
            assertThat(store.attempts()).isEqualTo(1);
            assertThat(remote.resolve("chk-2/_metadata")).doesNotExist();
        } else {
            writer.write(data, target, deadline);
            assertThat(Files.readAllBytes(remote.resolve("chk-2/_metadata"))).isEqualTo(data);
            assertThat(store.attempts()).isEqualTo(2);
        }
    }

    private RetryingUploader uploader(CheckpointStore store) {
        return new RetryingUploader(
                store,
                new RetryPolicy(
                        5, Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofSeconds(30)),
                executor,
                Ticker.SYSTEM,
                () -> 0.5,
                new StorageMetrics(),
                Redactor.NONE);
    }

    private Path upload(RetryingUploader uploader, byte[] data) throws IOException {
        Supplier<Path> targets =
                () ->
                        new Path(
                                remote.resolve("chk-1")
                                        .resolve(UUID.randomUUID().toString())
                                        .toUri());
        return uploader.upload(
                new ByteSource(data),
                targets,
                System.nanoTime() + TimeUnit.MINUTES.toNanos(1),
                new UploadCancellation());
    }
}
