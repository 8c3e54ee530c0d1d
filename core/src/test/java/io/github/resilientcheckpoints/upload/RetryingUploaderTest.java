package io.github.resilientcheckpoints.upload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.testing.LiveTree;
import io.github.resilientcheckpoints.testing.ScriptedStore;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Fault injection in front of the real local file system store. */
class RetryingUploaderTest {

    @TempDir java.nio.file.Path remote;

    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final StorageMetrics metrics = new StorageMetrics();
    private final byte[] data = bytes(300_000);

    @AfterEach
    void tearDown() throws InterruptedException {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private RetryingUploader uploader(
            CheckpointStore store, RetryPolicy policy, Redactor redactor) {
        return new RetryingUploader(
                store, policy, executor, Ticker.SYSTEM, () -> 0.5, metrics, redactor);
    }

    private Supplier<Path> targets() {
        return () ->
                new Path(remote.resolve("chk-1").resolve(UUID.randomUUID().toString()).toUri());
    }

    private long deadlineIn(Duration d) {
        return System.nanoTime() + d.toNanos();
    }

    @Test
    void firstKTransientFailuresThenSuccessTakesKPlusOneAttempts() throws Exception {
        int k = 4;
        ScriptedStore store = new ScriptedStore();
        for (int i = 0; i < k; i++) {
            store.thenFailMidBody(new IOException("Connection reset by peer"));
        }
        Path written =
                uploader(store, policy(10, Duration.ofSeconds(30)), Redactor.NONE)
                        .upload(
                                new ByteSource(data),
                                targets(),
                                deadlineIn(Duration.ofMinutes(1)),
                                new UploadCancellation());

        assertThat(store.attempts()).isEqualTo(k + 1);
        assertThat(Files.readAllBytes(Paths.get(written.toUri()))).isEqualTo(data);
        awaitOnlyRemote(written);
        assertThat(metrics.failures(FailureClass.TRANSIENT)).isEqualTo(k);
        assertThat(metrics.uploadsSucceeded()).isEqualTo(1);
    }

    @Test
    void throttlingIsRetriedAndCountedAsThrottled() throws Exception {
        ScriptedStore store =
                new ScriptedStore()
                        .thenFail(new IOException("Status Code: 503; Error Code: SlowDown"));
        uploader(store, policy(3, Duration.ofSeconds(30)), Redactor.NONE)
                .upload(
                        new ByteSource(data),
                        targets(),
                        deadlineIn(Duration.ofMinutes(1)),
                        new UploadCancellation());
        assertThat(store.attempts()).isEqualTo(2);
        assertThat(metrics.failures(FailureClass.THROTTLED)).isEqualTo(1);
    }

    @Test
    void permanentErrorFailsOnFirstAttemptNamingPathAndFix() throws Exception {
        // A regular file where the checkpoint directory has to be: the real local FS refuses.
        java.nio.file.Path blocker = Files.writeString(remote.resolve("not-a-dir"), "x");
        ScriptedStore store = new ScriptedStore();
        Supplier<Path> targets = () -> new Path(blocker.resolve("chk-7").resolve("state").toUri());

        assertThatThrownBy(
                        () ->
                                uploader(store, policy(10, Duration.ofSeconds(30)), Redactor.NONE)
                                        .upload(
                                                new ByteSource(data),
                                                targets,
                                                deadlineIn(Duration.ofMinutes(1)),
                                                new UploadCancellation()))
                .isInstanceOfSatisfying(
                        CheckpointUploadException.class,
                        e -> {
                            assertThat(e.reason()).isEqualTo(RetryPolicy.GiveUpReason.PERMANENT);
                            assertThat(e.attempts()).isEqualTo(1);
                        })
                .hasMessageContaining("failed permanently on attempt 1")
                .hasMessageContaining(blocker.resolve("chk-7").toString())
                .hasMessageContaining(
                        "Likely fix: a file stands where a checkpoint directory must be created");
        assertThat(store.attempts()).isEqualTo(1);
    }

    @Test
    void failuresPastTheDeadlineFailInTimeAndLeaveNothing() throws Exception {
        ScriptedStore store =
                new ScriptedStore().failingForever(new IOException("Connection refused"));
        for (int i = 0; i < 1000; i++) {
            store.thenFailMidBody(new IOException("Connection reset"));
        }
        RetryPolicy policy =
                new RetryPolicy(
                        1000, Duration.ofMillis(20), Duration.ofMillis(50), Duration.ofSeconds(30));
        long start = System.nanoTime();
        assertThatThrownBy(
                        () ->
                                uploader(store, policy, Redactor.NONE)
                                        .upload(
                                                new ByteSource(data),
                                                targets(),
                                                deadlineIn(Duration.ofMillis(600)),
                                                new UploadCancellation()))
                .isInstanceOfSatisfying(
                        CheckpointUploadException.class,
                        e -> assertThat(e.reason()).isEqualTo(RetryPolicy.GiveUpReason.DEADLINE))
                .hasMessageContaining("checkpoint deadline");
        long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        // Gave up at the deadline, not after the 1000 attempts the cap would allow.
        assertThat(elapsedMs).isLessThan(600 + 2_000);
        assertThat(store.attempts()).isBetween(2, 999);
        awaitNoRemoteFiles();
    }

    @Test
    void hungAttemptIsTimedOutRetriedAndItsFileDeleted() throws Exception {
        ScriptedStore store = new ScriptedStore().thenHang();
        Path written =
                uploader(store, policy(10, Duration.ofMillis(300)), Redactor.NONE)
                        .upload(
                                new ByteSource(data),
                                targets(),
                                deadlineIn(Duration.ofMinutes(1)),
                                new UploadCancellation());
        // the hung one and at least one more: a stalled machine may time out a retry as well
        assertThat(store.attempts()).isBetween(2, 10);
        assertThat(Files.readAllBytes(Paths.get(written.toUri()))).isEqualTo(data);
        awaitOnlyRemote(written);
        assertThat(store.targets().get(0)).isNotEqualTo(written);
    }

    @Test
    void attemptsExhaustedSaysSoAndNamesTheKey() {
        ScriptedStore store =
                new ScriptedStore().failingForever(new IOException("Connection reset"));
        assertThatThrownBy(
                        () ->
                                uploader(store, policy(3, Duration.ofSeconds(30)), Redactor.NONE)
                                        .upload(
                                                new ByteSource(data),
                                                targets(),
                                                deadlineIn(Duration.ofMinutes(1)),
                                                new UploadCancellation()))
                .hasMessageContaining("failed after 3 attempts")
                .hasMessageContaining("execution.checkpointing.resilient.retry.max-attempts");
        assertThat(store.attempts()).isEqualTo(3);
    }

    @Test
    void credentialsNeverAppearInMessages() {
        Configuration conf = new Configuration();
        conf.setString("s3.secret-key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        conf.setString("s3.access-key", "AKIAIOSFODNN7EXAMPLE");
        Redactor redactor = Redactor.fromConfig(conf);
        ScriptedStore store =
                new ScriptedStore()
                        .failingForever(
                                new IOException(
                                        "AccessDenied for s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY@bucket/x"
                                                + " signed with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
        assertThatThrownBy(
                        () ->
                                uploader(store, policy(3, Duration.ofSeconds(30)), redactor)
                                        .upload(
                                                new ByteSource(data),
                                                targets(),
                                                deadlineIn(Duration.ofMinutes(1)),
                                                new UploadCancellation()))
                .satisfies(
                        e -> {
                            assertThat(e.getMessage())
                                    .doesNotContain("wJalrXUtnFEMI")
                                    .doesNotContain("AKIAIOSFODNN7EXAMPLE")
                                    .contains("s3://***@bucket/x")
                                    .contains("failed permanently");
                        });
    }

    private static RetryPolicy policy(int attempts, Duration attemptTimeout) {
        return new RetryPolicy(
                attempts, Duration.ofMillis(1), Duration.ofMillis(10), attemptTimeout);
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    /** Files under the remote directory; an upload's cleanup may be deleting them meanwhile. */
    private List<java.nio.file.Path> remoteFiles() throws IOException {
        return LiveTree.files(remote, f -> true);
    }

    /**
     * Asserts that {@code written} is the only remote file, once the failed attempts' partial files
     * are gone: discard threads delete them, maybe after the upload returned.
     */
    private void awaitOnlyRemote(Path written) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (remoteFiles().size() > 1 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertThat(remoteFiles()).containsExactly(Paths.get(written.toUri()));
    }

    private void awaitNoRemoteFiles() throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!remoteFiles().isEmpty() && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertThat(remoteFiles()).isEmpty();
    }
}
