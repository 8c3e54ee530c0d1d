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
import io.github.resilientcheckpoints.testing.PartUploadStore;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A stream whose full parts go up while it is written: whichever way it ends, the upload permit
 * comes back and the part upload is completed or aborted, never left pending; cleanup happens even
 * when the threads involved were interrupted.
 */
class PipelinedStreamTest {

    /**
     * These tests interrupt the JUnit thread on purpose: a flag left behind by a failed assertion
     * would make the next test class's store calls look cancelled (no resend).
     */
    @org.junit.jupiter.api.AfterEach
    void leaveNoInterruptBehind() {
        Thread.interrupted();
    }

    static final int BUFFER = 32 * 1024;
    static final long PART = 64 * 1024;
    static final long CHUNK = 64 * 1024;

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
    private final PartUploadStore store = new PartUploadStore(PART);

    @AfterEach
    void tearDown() throws InterruptedException {
        store.openCompletionGate();
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        store.close();
    }

    private ResilientStateOutputStream stream(SpillLimits limits) throws IOException {
        SpillSpace space =
                new SpillSpace(List.of(spill), limits, FreeSpaceProbe.FILE_STORE, Ticker.SYSTEM);
        RetryingUploader uploader =
                new RetryingUploader(
                        store,
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
                new Path(remote.toUri()),
                true,
                1024,
                BUFFER,
                services,
                Ticker.SYSTEM.nanoTime() + TimeUnit.MINUTES.toNanos(5));
    }

    private ResilientStateOutputStream stream() throws IOException {
        return stream(Workers.generousLimits());
    }

    /** Spilling stops at {@code quota} bytes and then the stream fails ({@code fail} policy). */
    private static SpillLimits failingBeyond(long quota) {
        return new SpillLimits(
                0, 0.0, quota, CHUNK, Duration.ofSeconds(1), SpillFallback.FAIL, 1 << 20);
    }

    @Test
    void completedPipelineGivesThePermitBack() throws Exception {
        byte[] data = randomBytes((int) (5 * PART + 123), 1);
        ResilientStateOutputStream out = stream();
        out.write(data);
        assertThat(throttle.inFlight()).as("pipelining holds one permit").isEqualTo(1);
        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(throttle.inFlight()).isZero();
        assertThat(store.pendingUploads()).isZero();
        assertThat(metrics.pipelinedUploads()).isEqualTo(1);
        assertThat(spillFiles()).isEmpty();
    }

    @Test
    void closeFromAnotherThreadWhileWritingGivesThePermitBackAndAborts() throws Exception {
        ResilientStateOutputStream out = stream();
        out.write(randomBytes((int) (3 * PART), 2));
        assertThat(store.startedUploads()).isEqualTo(1);
        assertThat(throttle.inFlight()).isEqualTo(1);

        executor.submit(out::close).get(10, TimeUnit.SECONDS);

        await(() -> store.pendingUploads() == 0);
        assertThat(store.abortedUploads()).isEqualTo(1);
        assertThat(throttle.inFlight()).as("permits in flight after close()").isZero();
        assertThat(spillFiles()).isEmpty();
    }

    @Test
    void closesFromOtherThreadsNeverExhaustThePermits() throws Exception {
        for (int i = 0; i < throttle.settings().maxConcurrency() + 2; i++) {
            ResilientStateOutputStream out = stream();
            out.write(randomBytes((int) (2 * PART), i));
            assertThat(store.startedUploads()).as("stream %d pipelined", i).isEqualTo(i + 1);
            executor.submit(out::close).get(10, TimeUnit.SECONDS);
        }
        await(() -> store.pendingUploads() == 0);
        assertThat(throttle.inFlight()).isZero();
    }

    @Test
    void failFallbackAfterPipeliningStartedGivesThePermitBackAndAborts() throws Exception {
        ResilientStateOutputStream out = stream(failingBeyond(4 * CHUNK));
        assertThatThrownBy(() -> out.write(randomBytes((int) (8 * CHUNK), 3)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("Cannot stage checkpoint state");
        assertThat(store.startedUploads()).as("parts went up before the disk ran out").isEqualTo(1);

        await(() -> store.pendingUploads() == 0);
        assertThat(throttle.inFlight()).as("permits in flight after the failed write").isZero();
        assertThat(store.abortedUploads()).isEqualTo(1);
        out.close();
        assertThat(throttle.inFlight()).isZero();
        assertThat(spillFiles()).isEmpty();
    }

    @Test
    void failingCloseAndGetHandleGivesThePermitBackAndAborts() throws Exception {
        ResilientStateOutputStream out = stream(failingBeyond(4 * CHUNK));
        out.write(randomBytes((int) (4 * CHUNK), 4)); // exactly the quota: all spilled
        out.write(randomBytes(100, 5)); // the tail cannot be spilled any more
        assertThat(store.startedUploads()).isEqualTo(1);

        assertThatThrownBy(out::closeAndGetHandle)
                .isInstanceOf(IOException.class)
                .hasMessageContaining("Cannot stage checkpoint state");

        await(() -> store.pendingUploads() == 0);
        assertThat(throttle.inFlight())
                .as("permits in flight after closeAndGetHandle failed")
                .isZero();
        assertThat(store.abortedUploads()).isEqualTo(1);
        out.close();
        assertThat(spillFiles()).isEmpty();
    }

    @Test
    void closeDuringCompletionAbortsEvenFromAnInterruptedThread() throws Exception {
        store.holdingCompletions();
        ResilientStateOutputStream out = stream();
        out.write(randomBytes((int) (3 * PART + 5), 6));
        Future<StreamStateHandle> uploading = executor.submit(out::closeAndGetHandle);
        assertThat(store.completionStarted.await(10, TimeUnit.SECONDS)).isTrue();

        // Flink cancels the task: the thread that closes the stream is interrupted.
        executor.submit(
                        () -> {
                            Thread.currentThread().interrupt();
                            out.close();
                        })
                .get(10, TimeUnit.SECONDS);

        assertThatThrownBy(() -> uploading.get(10, TimeUnit.SECONDS))
                .hasCauseInstanceOf(IOException.class);
        await(() -> store.pendingUploads() == 0);
        assertThat(store.refusedCleanups())
                .as("cleanup calls made on interrupted threads")
                .isZero();
        assertThat(throttle.inFlight()).isZero();
        store.openCompletionGate();
        assertThat(remoteFiles()).isEmpty();
        assertThat(spillFiles()).isEmpty();
    }

    @Test
    void interruptingTheUploadingThreadAbortsThePartUpload() throws Exception {
        store.holdingCompletions();
        ResilientStateOutputStream out = stream();
        out.write(randomBytes((int) (3 * PART + 5), 7));
        Future<StreamStateHandle> uploading = executor.submit(out::closeAndGetHandle);
        assertThat(store.completionStarted.await(10, TimeUnit.SECONDS)).isTrue();

        uploading.cancel(true); // the async snapshot thread is interrupted
        out.close();

        await(() -> store.pendingUploads() == 0);
        assertThat(store.refusedCleanups())
                .as("cleanup calls made on interrupted threads")
                .isZero();
        assertThat(throttle.inFlight()).isZero();
        assertThat(spillFiles()).isEmpty();
    }

    private List<java.nio.file.Path> spillFiles() throws IOException {
        return SpillFiles.under(spill);
    }

    private List<java.nio.file.Path> remoteFiles() throws IOException {
        try (Stream<java.nio.file.Path> s = Files.walk(remote)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean() && System.nanoTime() < end) {
            Thread.sleep(5);
        }
    }
}
