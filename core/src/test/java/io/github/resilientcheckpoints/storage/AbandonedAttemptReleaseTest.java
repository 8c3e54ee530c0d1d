package io.github.resilientcheckpoints.storage;

import static io.github.resilientcheckpoints.storage.ResilientStateOutputStreamTest.randomBytes;
import static io.github.resilientcheckpoints.storage.ResilientStateOutputStreamTest.readAll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.testing.FakeDisks;
import io.github.resilientcheckpoints.testing.FakeTicker;
import io.github.resilientcheckpoints.testing.ForwardingStore;
import io.github.resilientcheckpoints.testing.PartUploadStore;
import io.github.resilientcheckpoints.testing.SpillFiles;
import io.github.resilientcheckpoints.testing.Workers;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The staged bytes of a stream (its spill-file prefix on disk, its memory-fallback chunks on the
 * heap) stay accounted for as long as an attempt the uploader gave up on still reads them: a store
 * thread stuck in a socket write does not stop because it was interrupted.
 */
class AbandonedAttemptReleaseTest {

    /**
     * These tests interrupt the JUnit thread on purpose: a flag left behind by a failed assertion
     * would make the next test class's store calls look cancelled (no resend).
     */
    @org.junit.jupiter.api.AfterEach
    void leaveNoInterruptBehind() {
        Thread.interrupted();
    }

    static final int BUFFER = 32 * 1024;
    static final long CHUNK = 64 * 1024;

    @TempDir java.nio.file.Path remote;
    @TempDir java.nio.file.Path spill;

    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final StorageMetrics metrics = new StorageMetrics();
    private final FakeDisks disks = new FakeDisks();
    private final StallingStore store = new StallingStore();

    @AfterEach
    void tearDown() throws InterruptedException {
        store.release.countDown();
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    /**
     * Two chunks of disk above the floor: the stream spills 2 chunks, then falls back to memory.
     */
    private SpillSpace space() throws IOException {
        disks.add(spill, 12 * CHUNK);
        return new SpillSpace(
                List.of(spill),
                new SpillLimits(
                        10 * CHUNK,
                        0.0,
                        Long.MAX_VALUE,
                        CHUNK,
                        Duration.ofSeconds(1),
                        SpillFallback.MEMORY,
                        4 << 20),
                disks,
                new FakeTicker());
    }

    private ResilientStateOutputStream stream(SpillSpace space, Duration attemptTimeout) {
        return stream(
                store,
                space,
                new RetryPolicy(3, Duration.ofMillis(1), Duration.ofMillis(5), attemptTimeout));
    }

    private ResilientStateOutputStream stream(
            CheckpointStore to, SpillSpace space, RetryPolicy policy) {
        WorkerServices services =
                Workers.services(to, policy, executor, space, metrics, Redactor.NONE);
        return new ResilientStateOutputStream(
                new Path(remote.toUri()),
                true,
                1024,
                BUFFER,
                services,
                Ticker.SYSTEM.nanoTime() + TimeUnit.MINUTES.toNanos(5));
    }

    @Test
    void abandonedAttemptKeepsMemoryAndSpillReservedUntilItStopsReading() throws Exception {
        SpillSpace space = space();
        ResilientStateOutputStream out = stream(space, Duration.ofMillis(300));
        byte[] data = randomBytes(12 * BUFFER + 7, 11);
        out.write(data);
        long memory = space.memoryBudget().used();
        long reserved = space.reservedBytes();
        assertThat(memory).as("memory fallback in use").isPositive();
        assertThat(reserved).as("spill prefix reserved").isPositive();
        java.nio.file.Path spillFile = out.spillFile();

        // Attempt 1 stalls while reading and outlives its timeout; attempt 2 succeeds.
        StreamStateHandle handle = out.closeAndGetHandle();
        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(store.stalled.getCount()).isZero();

        assertThat(space.memoryBudget().used())
                .as("memory still read by the abandoned attempt")
                .isEqualTo(memory);
        assertThat(space.reservedBytes())
                .as("spill file still read by the abandoned attempt")
                .isEqualTo(reserved);

        store.release.countDown();
        assertThat(store.stalledReaderClosed.get(10, TimeUnit.SECONDS)).isTrue();
        awaitTrue(() -> space.memoryBudget().used() == 0 && space.reservedBytes() == 0);
        assertThat(spillFile).doesNotExist();
        assertThat(SpillFiles.under(FakeDisks.sub(spill))).isEmpty();
    }

    @Test
    void closeFromAnotherThreadDuringSuchAnUploadReleasesEverythingOnceTheAttemptEnds()
            throws Exception {
        SpillSpace space = space();
        ResilientStateOutputStream out = stream(space, Duration.ofMinutes(1));
        out.write(randomBytes(12 * BUFFER + 7, 12));
        long memory = space.memoryBudget().used();
        long reserved = space.reservedBytes();
        java.nio.file.Path spillFile = out.spillFile();

        CompletableFuture<StreamStateHandle> closing =
                CompletableFuture.supplyAsync(
                        () -> {
                            try {
                                return out.closeAndGetHandle();
                            } catch (IOException e) {
                                throw new java.io.UncheckedIOException(e);
                            }
                        },
                        executor);
        assertThat(store.stalled.await(10, TimeUnit.SECONDS)).isTrue();
        out.close(); // task cancelled: from another thread
        assertThatThrownBy(() -> closing.get(10, TimeUnit.SECONDS))
                .hasRootCauseInstanceOf(java.io.InterruptedIOException.class);

        assertThat(space.memoryBudget().used()).isEqualTo(memory);
        assertThat(space.reservedBytes()).isEqualTo(reserved);

        store.release.countDown();
        assertThat(store.stalledReaderClosed.get(10, TimeUnit.SECONDS)).isTrue();
        awaitTrue(() -> space.memoryBudget().used() == 0 && space.reservedBytes() == 0);
        assertThat(spillFile).doesNotExist();
        assertThat(SpillFiles.under(FakeDisks.sub(spill))).isEmpty();
    }

    @Test
    void partOfAnAbortedPipelinedUploadKeepsTheSpillFileReservedUntilItStopsReading()
            throws Exception {
        StallingPartStore parts = new StallingPartStore(BUFFER);
        try {
            SpillSpace space =
                    new SpillSpace(
                            List.of(spill),
                            Workers.generousLimits(),
                            FreeSpaceProbe.FILE_STORE,
                            Ticker.SYSTEM);
            ResilientStateOutputStream out = stream(parts, space, Workers.fastPolicy(3));
            out.write(randomBytes(4 * BUFFER + 5, 13));
            assertThat(parts.stalled.await(10, TimeUnit.SECONDS)).isTrue();
            java.nio.file.Path spillFile = out.spillFile();
            long reserved = space.reservedBytes();
            assertThat(reserved).isPositive();

            out.close(); // task cancelled: the part upload is aborted, its part thread stalls on
            assertThat(space.reservedBytes())
                    .as("spill file still read by the aborted part")
                    .isEqualTo(reserved);

            parts.release.countDown();
            assertThat(parts.stalledReaderClosed.get(10, TimeUnit.SECONDS)).isTrue();
            awaitTrue(() -> space.reservedBytes() == 0);
            assertThat(spillFile).doesNotExist();
        } finally {
            parts.release.countDown();
            parts.close();
        }
    }

    private static void awaitTrue(BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition within 10 s").isLessThan(end);
            Thread.sleep(10);
        }
    }

    /** Part uploads whose first part stalls after reading a little, deaf to interrupts. */
    private static final class StallingPartStore extends StallingStoreBase
            implements SupportsPartUploads {
        final PartUploadStore parts;

        StallingPartStore(long partSize) {
            this(new PartUploadStore(partSize));
        }

        private StallingPartStore(PartUploadStore parts) {
            super(parts);
            this.parts = parts;
        }

        @Override
        public long partSize() {
            return parts.partSize();
        }

        @Override
        public PartUpload startPartUpload(Path target) throws IOException {
            PartUpload upload = parts.startPartUpload(target);
            return new PartUpload() {
                @Override
                public void submitPart(int partNumber, UploadSource bytes) {
                    upload.submitPart(partNumber, partNumber == 1 ? stalling(bytes) : bytes);
                }

                @Override
                public Path complete(int lastPartNumber, UploadSource lastPart) throws IOException {
                    return upload.complete(lastPartNumber, lastPart);
                }

                @Override
                public void abort() {
                    upload.abort();
                }
            };
        }

        private UploadSource stalling(UploadSource bytes) {
            return new UploadSource() {
                @Override
                public long length() {
                    return bytes.length();
                }

                @Override
                public InputStream open() throws IOException {
                    InputStream in = bytes.open();
                    return new java.io.FilterInputStream(in) {
                        @Override
                        public int read(byte[] b, int off, int len) throws IOException {
                            int n = super.read(b, off, Math.min(len, 4096));
                            stalled.countDown();
                            awaitUninterruptibly(release);
                            return n;
                        }

                        @Override
                        public void close() throws IOException {
                            super.close();
                            stalledReaderClosed.complete(true);
                        }
                    };
                }
            };
        }
    }

    /**
     * The real local-file store, except that the first attempt reads a little and then stalls, as a
     * thread blocked in a socket write would: an interrupt does not end it, only {@link #release}
     * does. It then closes its reader and fails.
     */
    private static final class StallingStore extends StallingStoreBase {
        private final java.util.concurrent.atomic.AtomicBoolean first =
                new java.util.concurrent.atomic.AtomicBoolean(true);

        StallingStore() {
            super(new FlinkFileSystemStore());
        }

        @Override
        public Path upload(UploadSource source, Path target) throws IOException {
            if (!first.compareAndSet(true, false)) {
                return super.upload(source, target);
            }
            try (InputStream in = source.open()) {
                in.readNBytes(4096);
                stalled.countDown();
                awaitUninterruptibly(release);
            } finally {
                stalledReaderClosed.complete(true);
            }
            throw new IOException("connection reset while the attempt was stalled");
        }
    }

    /** A real store behind, and the latches of one reader that stalls, deaf to interrupts. */
    private abstract static class StallingStoreBase extends ForwardingStore {
        final CountDownLatch stalled = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final CompletableFuture<Boolean> stalledReaderClosed = new CompletableFuture<>();

        StallingStoreBase(CheckpointStore real) {
            super(real);
        }

        static void awaitUninterruptibly(CountDownLatch latch) {
            boolean interrupted = false;
            while (true) {
                try {
                    latch.await();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
