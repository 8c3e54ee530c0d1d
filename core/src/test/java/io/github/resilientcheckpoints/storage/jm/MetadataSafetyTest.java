package io.github.resilientcheckpoints.storage.jm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.store.SupportsExclusiveCreate;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.testing.FakeTicker;
import io.github.resilientcheckpoints.testing.ForwardingStore;
import io.github.resilientcheckpoints.testing.ScriptedStore;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a {@code _metadata} write promises beyond retrying: timeouts are retried (not taken for a
 * cancellation), an existing file is never replaced, an attempt that commits after the writer gave
 * up takes its file back, and the whole write holds Flink's thread at most the max-blocking time.
 */
class MetadataSafetyTest {

    @TempDir java.nio.file.Path dir;

    private final FakeTicker ticker = new FakeTicker();
    private final Sleeper fakeSleep = nanos -> ticker.advanceNanos(nanos);
    private final StorageMetrics metrics = new StorageMetrics();

    private static RetryPolicy policy(int attempts) {
        return new RetryPolicy(
                attempts, Duration.ofMillis(100), Duration.ofSeconds(1), Duration.ofMinutes(1));
    }

    private MetadataWriter writer(CheckpointStore store, RetryPolicy policy, Duration maxBlocking) {
        return new MetadataWriter(
                store,
                policy,
                ticker,
                fakeSleep,
                () -> 0.5,
                metrics,
                Redactor.NONE,
                Runnable::run,
                maxBlocking.toNanos());
    }

    private MetadataWriter writer(CheckpointStore store) {
        return writer(store, policy(5), Duration.ofMinutes(1));
    }

    private Path target() throws IOException {
        Files.createDirectories(dir.resolve("chk-7"));
        return new Path(dir.resolve("chk-7").resolve("_metadata").toUri());
    }

    private java.nio.file.Path file() {
        return dir.resolve("chk-7/_metadata");
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }

    @Test
    void aSocketTimeoutIsRetriedNotTakenForACancellation() throws Exception {
        ScriptedStore store =
                new ScriptedStore()
                        .thenFail(new SocketTimeoutException("Read timed out"))
                        .thenFail(new ConnectTimeout("connect timed out (NameNode RPC)"));
        Path target = target();
        byte[] data = bytes(2000);

        writer(store).write(data, target, ticker.nanoTime() + TimeUnit.MINUTES.toNanos(1));

        assertThat(store.attempts()).isEqualTo(3);
        assertThat(Files.readAllBytes(file())).isEqualTo(data);
        assertThat(Thread.currentThread().isInterrupted()).isFalse();
    }

    @Test
    void anExistingMetadataFileIsNeverReplacedByAStoreWithoutExclusiveCreate() throws Exception {
        Path target = target();
        Files.write(file(), new byte[] {1, 2, 3});
        ScriptedStore store = new ScriptedStore();

        assertThatThrownBy(() -> writer(store).write(bytes(10), target, Long.MAX_VALUE))
                .hasMessageContaining("already exists")
                .hasMessageContaining(target.toString())
                .hasMessageContaining("permanently");
        assertThat(Files.readAllBytes(file())).containsExactly(1, 2, 3);
        assertThat(store.attempts()).isZero();
    }

    @Test
    void anExclusiveStoreRefusesAnExistingFileAtOnceAndLeavesItAsItWas() throws Exception {
        Path target = target();
        Files.write(file(), new byte[] {1, 2, 3});
        ExclusiveStore store = new ExclusiveStore();

        assertThatThrownBy(() -> writer(store).write(bytes(10), target, Long.MAX_VALUE))
                .hasMessageContaining("already exists")
                .hasMessageContaining("permanently");
        assertThat(Files.readAllBytes(file())).containsExactly(1, 2, 3);
        assertThat(store.deletes).as("nothing deleted").isZero();
    }

    @Test
    void aRetryThatFindsTheBytesOfItsLostAttemptSucceeds() throws Exception {
        Path target = target();
        byte[] data = bytes(5000);
        ExclusiveStore store = new ExclusiveStore();
        store.loseNextAnswer.set(true);

        writer(store).write(data, target, Long.MAX_VALUE);

        assertThat(store.creates).isEqualTo(2);
        assertThat(Files.readAllBytes(file())).isEqualTo(data);
        assertThat(store.deletes).isZero();
    }

    @Test
    void retriesEndAtTheMaxBlockingTimeLongBeforeTheCheckpointDeadline() throws Exception {
        Path target = target();
        ScriptedStore store = new ScriptedStore().failingForever(new ConnectException("refused"));
        long start = ticker.nanoTime();

        assertThatThrownBy(
                        () ->
                                writer(store, policy(1000), Duration.ofSeconds(2))
                                        .write(
                                                bytes(10),
                                                target,
                                                start + TimeUnit.MINUTES.toNanos(10)))
                .hasMessageContaining(ResilientCheckpointOptions.JOBMANAGER_MAX_BLOCKING.key())
                .hasMessageContaining("refused");
        assertThat(ticker.nanoTime() - start).isLessThanOrEqualTo(TimeUnit.SECONDS.toNanos(2));
        assertThat(store.attempts()).isGreaterThan(1);
    }

    @Test
    void anAttemptThatCommitsAfterTheWriterGaveUpDeletesItsFileAgain() throws Exception {
        Path target = target();
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch finished = new CountDownLatch(1);
        CheckpointStore deaf =
                new ForwardingStore(new FlinkFileSystemStore()) {
                    @Override
                    public Path upload(UploadSource source, Path target) throws IOException {
                        try {
                            awaitIgnoringInterrupts(release);
                            return real.upload(source, target);
                        } finally {
                            finished.countDown();
                        }
                    }
                };
        RetryPolicy policy =
                new RetryPolicy(
                        1, Duration.ofMillis(1), Duration.ofMillis(1), Duration.ofMinutes(1));
        ExecutorService attempts = Executors.newCachedThreadPool();
        try {
            MetadataWriter writer =
                    new MetadataWriter(
                            deaf,
                            policy,
                            Ticker.SYSTEM,
                            Sleeper.SYSTEM,
                            () -> 0.5,
                            metrics,
                            Redactor.NONE,
                            attempts,
                            Duration.ofMillis(300).toNanos());

            assertThatThrownBy(() -> writer.write(bytes(100), target, Long.MAX_VALUE))
                    .isInstanceOf(IOException.class)
                    .isNotInstanceOf(InterruptedIOException.class);
            assertThat(Files.exists(file())).as("nothing written yet").isFalse();

            release.countDown();
            assertThat(finished.await(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            attempts.shutdown();
            assertThat(attempts.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(Files.exists(file()))
                .as("the late commit of a failed checkpoint's _metadata was taken back")
                .isFalse();
    }

    /** A store client that swallows interrupts, as some do: the attempt outlives its wait. */
    private static void awaitIgnoringInterrupts(CountDownLatch latch) {
        while (true) {
            try {
                latch.await();
                return;
            } catch (InterruptedException swallowed) {
                // keep waiting, flag cleared
            }
        }
    }

    /**
     * Hadoop's ConnectTimeoutException has this shape: a timeout that extends the interrupt type.
     */
    private static final class ConnectTimeout extends SocketTimeoutException {
        private static final long serialVersionUID = 1L;

        ConnectTimeout(String message) {
            super(message);
        }
    }

    /**
     * Local files with an atomic create-if-absent (a hard link of a complete temp file fails when
     * the name exists), like S3's conditional put; can lose the answer of one commit.
     */
    private static final class ExclusiveStore extends ForwardingStore
            implements SupportsExclusiveCreate {
        final AtomicBoolean loseNextAnswer = new AtomicBoolean();
        volatile int creates;
        volatile int deletes;

        ExclusiveStore() {
            super(new FlinkFileSystemStore());
        }

        @Override
        public void createExclusive(UploadSource source, Path target) throws IOException {
            creates++;
            java.nio.file.Path file = Paths.get(target.toUri());
            java.nio.file.Path temp = file.resolveSibling(file.getFileName() + ".tmp-" + creates);
            try (InputStream in = source.open()) {
                Files.copy(in, temp, StandardCopyOption.REPLACE_EXISTING);
            }
            try {
                Files.createLink(file, temp);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                throw new FileAlreadyExistsException(target.toString());
            } finally {
                Files.delete(temp);
            }
            if (loseNextAnswer.getAndSet(false)) {
                throw new IOException("connection reset before the answer arrived");
            }
        }

        @Override
        public void delete(Path path) throws IOException {
            deletes++;
            super.delete(path);
        }
    }
}
