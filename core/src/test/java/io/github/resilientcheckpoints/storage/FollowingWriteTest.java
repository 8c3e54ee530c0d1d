package io.github.resilientcheckpoints.storage;

import static io.github.resilientcheckpoints.storage.ResilientStateOutputStreamTest.randomBytes;
import static io.github.resilientcheckpoints.storage.ResilientStateOutputStreamTest.readAll;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.testing.FaultyFileSystem;
import io.github.resilientcheckpoints.testing.SpillFiles;
import io.github.resilientcheckpoints.testing.Workers;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.UploadThrottle;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generic store's following write on a real Flink file system ({@code faulty://}, the local
 * file system with faults in state-file writes): the remote file grows while the state is still
 * written; a following write that breaks mid-way is deleted and the spill file goes up whole, with
 * retries, under a fresh name; a stream closed during a following write leaves nothing behind.
 */
class FollowingWriteTest {

    static final int BUFFER = 32 * 1024;

    @TempDir java.nio.file.Path remote;
    @TempDir java.nio.file.Path spill;

    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final StorageMetrics metrics = new StorageMetrics();
    private final UploadThrottle throttle =
            new UploadThrottle(
                    new UploadThrottle.Settings(
                            Long.MAX_VALUE, 1, 0, 1 << 20, 4, 0.5, TimeUnit.SECONDS.toNanos(30)),
                    Ticker.SYSTEM,
                    Sleeper.SYSTEM);

    @AfterEach
    void tearDown() throws InterruptedException {
        FaultyFileSystem.failStateWrites.set(0);
        FaultyFileSystem.stateFaultsThrottle = false;
        CountDownLatch gate = FaultyFileSystem.holdStateWrites;
        FaultyFileSystem.holdStateWrites = null;
        if (gate != null) {
            gate.countDown();
        }
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private ResilientStateOutputStream stream() throws IOException {
        SpillSpace space =
                new SpillSpace(
                        List.of(spill),
                        Workers.generousLimits(),
                        FreeSpaceProbe.FILE_STORE,
                        Ticker.SYSTEM);
        RetryingUploader uploader =
                new RetryingUploader(
                        new FlinkFileSystemStore(),
                        Workers.fastPolicy(3),
                        executor,
                        Ticker.SYSTEM,
                        () -> 0.5,
                        metrics,
                        Redactor.NONE,
                        throttle);
        WorkerServices services =
                new WorkerServices(
                        uploader, space, metrics, Ticker.SYSTEM, Duration.ofMinutes(10).toNanos());
        return new ResilientStateOutputStream(
                new Path(FaultyFileSystem.uri(remote)),
                true,
                1024,
                BUFFER,
                services,
                Ticker.SYSTEM.nanoTime() + TimeUnit.MINUTES.toNanos(5));
    }

    @Test
    void theRemoteFileGrowsWhileTheStateIsWritten() throws Exception {
        byte[] data = randomBytes(8 << 20, 1);
        ResilientStateOutputStream out = stream();
        out.write(data, 0, 4 << 20);
        await(() -> remoteBytes() >= 4 << 20);
        assertThat(throttle.inFlight()).as("the following write holds one permit").isEqualTo(1);
        out.write(data, 4 << 20, 4 << 20);
        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(remoteFiles()).hasSize(1);
        assertThat(metrics.pipelinedUploads()).isEqualTo(1);
        assertThat(metrics.attempts()).as("no whole-file attempt was needed").isZero();
        assertThat(throttle.inFlight()).isZero();
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    @Test
    void aFollowingWriteThatFailsMidWayFallsBackToTheRetriedWholeFileUpload() throws Exception {
        FaultyFileSystem.failStateWrites.set(1);
        long faultsBefore = FaultyFileSystem.STATE_FAULTS.get();
        byte[] data = randomBytes(6 << 20, 2);
        ResilientStateOutputStream out = stream();
        out.write(data, 0, 3 << 20);
        // The following write breaks while the state is still being written.
        await(() -> FaultyFileSystem.STATE_FAULTS.get() > faultsBefore);
        out.write(data, 3 << 20, 3 << 20);
        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(metrics.pipelineFallbacks()).isEqualTo(1);
        assertThat(metrics.pipelinedUploads()).isZero();
        await(() -> remoteFiles().size() == 1);
        assertThat(remoteFiles())
                .as("the broken following write was deleted")
                .containsExactly(
                        remote.resolve(
                                new Path(handle.getStreamStateHandleID().getKeyString())
                                        .getName()));
        assertThat(throttle.inFlight()).isZero();
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    @Test
    void aFollowingWriteThatFailsGivesItsPermitBackAndDeletesItsFileAtOnce() throws Exception {
        FaultyFileSystem.failStateWrites.set(1);
        long faultsBefore = FaultyFileSystem.STATE_FAULTS.get();
        byte[] data = randomBytes(4 << 20, 6);
        ResilientStateOutputStream out = stream();
        out.write(data, 0, 2 << 20);
        await(() -> FaultyFileSystem.STATE_FAULTS.get() > faultsBefore);

        // The state is still being written: the broken write must not hold a permit (another
        // stream's upload may need it) nor leave its file until closeAndGetHandle().
        await(() -> throttle.inFlight() == 0);
        await(() -> remoteFiles().isEmpty());
        assertThat(metrics.pipelineFallbacks()).isEqualTo(1);

        out.write(data, 2 << 20, 2 << 20);
        StreamStateHandle handle = out.closeAndGetHandle();
        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(metrics.pipelineFallbacks()).as("counted once").isEqualTo(1);
        assertThat(remoteFiles()).hasSize(1);
        assertThat(throttle.inFlight()).isZero();
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    @Test
    void aFollowingWriteTheStoreThrottlesSlowsTheThrottleDownBeforeTheResend() throws Exception {
        FaultyFileSystem.stateFaultsThrottle = true;
        FaultyFileSystem.failStateWrites.set(1);
        long faultsBefore = FaultyFileSystem.STATE_FAULTS.get();
        long signalsBefore = throttle.throttleSignals();
        int limitBefore = throttle.concurrencyLimit();
        byte[] data = randomBytes(3 << 20, 3);
        ResilientStateOutputStream out = stream();
        out.write(data, 0, 2 << 20);
        await(() -> FaultyFileSystem.STATE_FAULTS.get() > faultsBefore);
        out.write(data, 2 << 20, 1 << 20);
        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(metrics.pipelineFallbacks()).isEqualTo(1);
        assertThat(throttle.throttleSignals())
                .as("a 503 SlowDown on the following write is a throttle signal")
                .isGreaterThan(signalsBefore);
        assertThat(throttle.concurrencyLimit()).isLessThan(limitBefore);
    }

    @Test
    void closeDuringAFollowingWriteDeletesEverythingItWrote() throws Exception {
        ResilientStateOutputStream out = stream();
        out.write(randomBytes(4 << 20, 3));
        await(() -> remoteBytes() > 0);
        // The next store write hangs, as on a stalled connection: close() must still clean up.
        FaultyFileSystem.holdStateWrites = new CountDownLatch(1);
        long held = FaultyFileSystem.HELD_STATE_WRITES.get();
        out.write(randomBytes(4 << 20, 4));
        await(() -> FaultyFileSystem.HELD_STATE_WRITES.get() > held);

        executor.submit(out::close).get(10, TimeUnit.SECONDS);

        assertThat(throttle.inFlight()).as("permits in flight after close()").isZero();
        await(() -> remoteFiles().isEmpty());
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    @Test
    void closeWhileTheFollowerWaitsForBytesDeletesEverythingItWrote() throws Exception {
        ResilientStateOutputStream out = stream();
        out.write(randomBytes(2 << 20, 5));
        await(() -> remoteBytes() >= (2 << 20) - BUFFER);

        executor.submit(out::close).get(10, TimeUnit.SECONDS);

        assertThat(throttle.inFlight()).isZero();
        await(() -> remoteFiles().isEmpty());
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    private List<java.nio.file.Path> remoteFiles() {
        try (Stream<java.nio.file.Path> s = Files.list(remote)) {
            return s.toList();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private long remoteBytes() {
        long n = 0;
        for (java.nio.file.Path p : remoteFiles()) {
            try {
                n += Files.size(p);
            } catch (IOException gone) {
                // deleted between the listing and the size
            }
        }
        return n;
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > until) {
                StringBuilder sb = new StringBuilder();
                Thread.getAllStackTraces()
                        .forEach(
                                (t, st) -> {
                                    sb.append(t.getName()).append('\n');
                                    for (StackTraceElement e : st) {
                                        sb.append("  ").append(e).append('\n');
                                    }
                                });
                throw new AssertionError("condition not met within 20 s\n" + sb);
            }
            Thread.sleep(10);
        }
    }
}
