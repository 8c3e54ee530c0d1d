package io.github.resilientcheckpoints.storage.jm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.testing.FakeTicker;
import io.github.resilientcheckpoints.testing.ScriptedStore;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCompletedCheckpointStorageLocation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The _metadata retry loop on a fake clock (and, for hanging attempts, on real threads). */
class MetadataWriterTest {

    /**
     * These tests interrupt the JUnit thread on purpose: a flag left behind by a failed assertion
     * would make the next test class's store calls look cancelled (no resend).
     */
    @org.junit.jupiter.api.AfterEach
    void leaveNoInterruptBehind() {
        Thread.interrupted();
    }

    @TempDir java.nio.file.Path dir;

    private final FakeTicker ticker = new FakeTicker();
    private final Sleeper fakeSleep = nanos -> ticker.advanceNanos(nanos);
    private final StorageMetrics metrics = new StorageMetrics();

    private static RetryPolicy policy(int attempts) {
        return new RetryPolicy(
                attempts, Duration.ofMillis(100), Duration.ofSeconds(1), Duration.ofMinutes(1));
    }

    private MetadataWriter writer(CheckpointStore store, RetryPolicy policy) {
        return new MetadataWriter(
                store,
                policy,
                ticker,
                fakeSleep,
                () -> 0.5,
                metrics,
                Redactor.NONE,
                Runnable::run,
                Long.MAX_VALUE);
    }

    private LocationDeletes deletes() {
        return new LocationDeletes(
                new StoreRetries(
                        new FlinkFileSystemStore(),
                        policy(3),
                        ticker,
                        fakeSleep,
                        () -> 0.5,
                        Redactor.NONE,
                        Runnable::run),
                metrics,
                Redactor.NONE,
                Long.MAX_VALUE,
                Runnable::run);
    }

    private Path target() throws IOException {
        Files.createDirectories(dir.resolve("chk-7"));
        return new Path(dir.resolve("chk-7").resolve("_metadata").toUri());
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31);
        }
        return b;
    }

    @Test
    void retriesTransientFailuresToTheSamePathAfterDeletingWhatTheyLeft() throws Exception {
        ScriptedStore store =
                new ScriptedStore()
                        .thenFailMidBody(new IOException("connection reset"))
                        .thenFail(new IOException("503 Slow Down"));
        Path target = target();
        byte[] data = bytes(10_000);

        writer(store, policy(5))
                .write(data, target, ticker.nanoTime() + TimeUnit.SECONDS.toNanos(60));

        assertThat(store.targets()).containsExactly(target, target, target);
        assertThat(Files.readAllBytes(dir.resolve("chk-7/_metadata"))).isEqualTo(data);
        assertThat(metrics.metadataWrites()).isEqualTo(1);
        assertThat(metrics.metadataRetries()).isEqualTo(2);
        assertThat(metrics.snapshot())
                .containsEntry("metadataRetries", 2L)
                .containsEntry("metadataWrites", 1L);
    }

    @Test
    void permanentFailureEndsAtOnceNamingPathAnswerAndFix() throws Exception {
        ScriptedStore store =
                new ScriptedStore()
                        .failingForever(
                                new AccessDeniedException(
                                        "/bucket/chk-7/_metadata", null, "Access Denied"));
        Path target = target();

        assertThatThrownBy(() -> writer(store, policy(10)).write(bytes(10), target, Long.MAX_VALUE))
                .isInstanceOf(IOException.class)
                .hasNoCause()
                .hasMessageContaining(target.toString())
                .hasMessageContaining("Access Denied")
                .hasMessageContaining("JobManager's user")
                .hasMessageContaining("permanently");
        assertThat(store.attempts()).isEqualTo(1);
        assertThat(metrics.metadataWriteFailures()).isEqualTo(1);
    }

    @Test
    void attemptCapAndDeadlineBoundTheRetries() throws Exception {
        Path target = target();
        ScriptedStore capped = new ScriptedStore().failingForever(new ConnectException("refused"));
        assertThatThrownBy(() -> writer(capped, policy(3)).write(bytes(10), target, Long.MAX_VALUE))
                .hasMessageContaining("all 3 attempts failed")
                .hasMessageContaining("refused");
        assertThat(capped.attempts()).isEqualTo(3);

        ScriptedStore slow = new ScriptedStore().failingForever(new ConnectException("refused"));
        long deadline = ticker.nanoTime() + TimeUnit.SECONDS.toNanos(3);
        assertThatThrownBy(() -> writer(slow, policy(1000)).write(bytes(10), target, deadline))
                .hasMessageContaining("deadline");
        assertThat(ticker.nanoTime()).isLessThanOrEqualTo(deadline);
        assertThat(slow.attempts()).isBetween(2, 20);
    }

    @Test
    void aHangingAttemptIsInterruptedAndAwaitedBeforeTheNextOne() throws Exception {
        ScriptedStore store = new ScriptedStore().thenHang();
        byte[] data = bytes(5000);
        long start = System.nanoTime();
        writeOnAttemptThreads(
                store,
                Duration.ofMillis(200),
                Long.MAX_VALUE,
                data,
                System.nanoTime() + TimeUnit.SECONDS.toNanos(20));
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(10_000);
        // the hung one and at least one more: a stalled machine may time out a retry as well
        assertThat(store.attempts()).isBetween(2, 5);
        assertThat(Files.readAllBytes(dir.resolve("chk-7/_metadata"))).isEqualTo(data);
    }

    /**
     * A first attempt the store never answers, under the JobManager's bound (4 s here, 5 s by
     * default) and a per-attempt timeout far longer (3 min, the default): the attempt gets half of
     * the bound, not all of it, so a second attempt still fits and writes the file.
     */
    @Test
    void aHangingFirstAttemptLeavesTimeForAnotherWithinTheJobManagerBound() throws Exception {
        ScriptedStore store = new ScriptedStore().thenHang();
        byte[] data = bytes(5000);
        writeOnAttemptThreads(
                store, Duration.ofMinutes(3), TimeUnit.SECONDS.toNanos(4), data, Long.MAX_VALUE);
        assertThat(store.attempts()).isEqualTo(2);
        assertThat(Files.readAllBytes(dir.resolve("chk-7/_metadata"))).isEqualTo(data);
    }

    /** Writes {@code data} to the target with attempts on their own threads and the real clock. */
    private void writeOnAttemptThreads(
            ScriptedStore store,
            Duration attemptTimeout,
            long maxBlockingNanos,
            byte[] data,
            long deadlineNanos)
            throws Exception {
        RetryPolicy policy =
                new RetryPolicy(5, Duration.ofMillis(1), Duration.ofMillis(10), attemptTimeout);
        ExecutorService attempts = Executors.newCachedThreadPool();
        try {
            new MetadataWriter(
                            store,
                            policy,
                            Ticker.SYSTEM,
                            Sleeper.SYSTEM,
                            () -> 0.5,
                            metrics,
                            Redactor.NONE,
                            attempts,
                            maxBlockingNanos)
                    .write(data, target(), deadlineNanos);
        } finally {
            attempts.shutdownNow();
            assertThat(attempts.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void anInterruptBecomesInterruptedIOExceptionWithTheFlagKept() throws Exception {
        ScriptedStore store = new ScriptedStore();
        Path target = target();
        Thread.currentThread().interrupt();
        try {
            assertThatThrownBy(
                            () -> writer(store, policy(3)).write(bytes(10), target, Long.MAX_VALUE))
                    .isInstanceOf(InterruptedIOException.class)
                    .hasMessageContaining("_metadata");
            assertThat(Thread.currentThread().isInterrupted()).isTrue();
        } finally {
            Thread.interrupted();
        }
        assertThat(store.attempts()).isZero();
    }

    @Test
    void anExistingMetadataFileIsNeverOverwritten() throws Exception {
        Path target = target();
        Files.write(dir.resolve("chk-7/_metadata"), new byte[] {1, 2, 3});

        assertThatThrownBy(
                        () ->
                                writer(new FlinkFileSystemStore(), policy(5))
                                        .write(bytes(10), target, Long.MAX_VALUE))
                .hasMessageContaining("permanently")
                .hasMessageContaining("already exists");
        assertThat(Files.readAllBytes(dir.resolve("chk-7/_metadata"))).containsExactly(1, 2, 3);
    }

    @Test
    void theStreamBuffersAndReturnsFlinksOwnCompletedLocation() throws Exception {
        Path target = target();
        byte[] data = bytes(3000);
        MetadataWriter writer = writer(new FlinkFileSystemStore(), policy(3));
        ResilientMetadataOutputStream out =
                new ResilientMetadataOutputStream(
                        writer, target, target.getParent(), Long.MAX_VALUE, 1 << 20, deletes());
        out.write(data, 0, 1000);
        out.write(Arrays.copyOfRange(data, 1000, 3000));
        assertThat(Files.exists(dir.resolve("chk-7/_metadata")))
                .as("nothing written before finalize")
                .isFalse();

        CompletedCheckpointStorageLocation done = out.closeAndFinalizeCheckpoint();
        out.close();

        assertThat(done).isInstanceOf(FsCompletedCheckpointStorageLocation.class);
        assertThat(done.getMetadataHandle().getStateSize()).isEqualTo(3000);
        assertThat(done.getExternalPointer()).isEqualTo(target.getParent().toString());
        assertThat(Files.readAllBytes(dir.resolve("chk-7/_metadata"))).isEqualTo(data);
    }

    @Test
    void closingWithoutFinalizeWritesNothingAndPastTheBoundFlinksStreamTakesOver()
            throws Exception {
        Path target = target();
        MetadataWriter writer = writer(new FlinkFileSystemStore(), policy(3));
        ResilientMetadataOutputStream abandoned =
                new ResilientMetadataOutputStream(
                        writer, target, target.getParent(), Long.MAX_VALUE, 1 << 20, deletes());
        abandoned.write(bytes(100));
        abandoned.close();
        assertThat(Files.exists(dir.resolve("chk-7/_metadata"))).isFalse();

        byte[] data = bytes(5000);
        ResilientMetadataOutputStream big =
                new ResilientMetadataOutputStream(
                        writer, target, target.getParent(), Long.MAX_VALUE, 1024, deletes());
        big.write(data);
        CompletedCheckpointStorageLocation done = big.closeAndFinalizeCheckpoint();
        assertThat(done.getMetadataHandle().getStateSize()).isEqualTo(5000);
        assertThat(Files.readAllBytes(dir.resolve("chk-7/_metadata"))).isEqualTo(data);
        assertThat(metrics.metadataWrites()).as("the big one went through Flink's stream").isZero();
    }
}
