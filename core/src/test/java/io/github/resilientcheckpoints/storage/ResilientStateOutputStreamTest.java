package io.github.resilientcheckpoints.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.management.ThreadMXBean;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.testing.ScriptedStore;
import io.github.resilientcheckpoints.testing.SpillFiles;
import io.github.resilientcheckpoints.testing.Workers;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.management.ManagementFactory;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.RelativeFileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ResilientStateOutputStreamTest {

    static final int THRESHOLD = 20 * 1024;
    static final int BUFFER = 32 * 1024;

    @TempDir java.nio.file.Path remote;
    @TempDir java.nio.file.Path spill;

    private ExecutorService executor;
    private final StorageMetrics metrics = new StorageMetrics();

    @BeforeEach
    void setUp() {
        executor = Executors.newCachedThreadPool();
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private ResilientStateOutputStream stream(WorkerServices services, boolean exclusive) {
        return new ResilientStateOutputStream(
                new Path(remote.toUri()),
                exclusive,
                THRESHOLD,
                BUFFER,
                services,
                Ticker.SYSTEM.nanoTime() + TimeUnit.MINUTES.toNanos(5));
    }

    private WorkerServices services(CheckpointStore store) throws IOException {
        return Workers.services(
                store, Workers.fastPolicy(5), executor, spill, metrics, Redactor.NONE);
    }

    @ParameterizedTest
    @ValueSource(
            ints = {
                1,
                THRESHOLD - 1,
                THRESHOLD,
                THRESHOLD + 1,
                BUFFER,
                BUFFER + 1,
                3 * BUFFER + 17,
                64 << 20
            })
    void bytesRoundTrip(int size) throws Exception {
        byte[] data = randomBytes(size, size);
        ResilientStateOutputStream out = stream(services(new FlinkFileSystemStore()), true);
        writeMixed(out, data, new Random(size));
        assertThat(out.getPos()).isEqualTo(size);
        StreamStateHandle handle = out.closeAndGetHandle();

        if (size <= THRESHOLD) {
            assertThat(handle).isInstanceOf(ByteStreamStateHandle.class);
            assertThat(listRemote()).isEmpty();
        } else {
            assertThat(handle).isInstanceOf(RelativeFileStateHandle.class);
            assertThat(handle.getStateSize()).isEqualTo(size);
            assertThat(listRemote()).hasSize(1);
        }
        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(listSpill()).isEmpty();
    }

    @Test
    void aWriteAfterAnotherThreadClosedTheStreamFailsAtOnce() throws Exception {
        ResilientStateOutputStream out = stream(services(new FlinkFileSystemStore()), true);
        out.write(new byte[100]);
        Thread closer = new Thread(out::close, "canceller");
        closer.start();
        closer.join();

        assertThatThrownBy(() -> out.write(1))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("closed");
        assertThatThrownBy(() -> out.write(new byte[10], 0, 10))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("closed");
        assertThat(listSpill()).isEmpty();
        assertThat(listRemote()).isEmpty();
    }

    @Test
    void emptyStreamGivesNoHandle() throws Exception {
        ResilientStateOutputStream out = stream(services(new FlinkFileSystemStore()), true);
        assertThat(out.closeAndGetHandle()).isNull();
        assertThat(listRemote()).isEmpty();
        assertThatThrownBy(out::closeAndGetHandle).hasMessageContaining("already been closed");
    }

    @Test
    void sharedStateGetsAbsolutePaths() throws Exception {
        ResilientStateOutputStream out = stream(services(new FlinkFileSystemStore()), false);
        out.write(randomBytes(THRESHOLD * 3, 7));
        StreamStateHandle handle = out.closeAndGetHandle();
        assertThat(handle).isExactlyInstanceOf(FileStateHandle.class);
        assertThat(((FileStateHandle) handle).getFilePath().getParent().getPath())
                .isEqualTo(remote.toString());
    }

    @Test
    void transientFailuresAreRetriedUntilTheBytesAreIntact() throws Exception {
        ScriptedStore store =
                new ScriptedStore()
                        .thenFailMidBody(new IOException("Connection reset by peer"))
                        .thenFail(new SocketTimeoutException("Read timed out"))
                        .thenFailMidBody(new IOException("Connection reset"));
        byte[] data = randomBytes(5 * BUFFER + 3, 3);
        ResilientStateOutputStream out = stream(services(store), true);
        out.write(data);
        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(store.attempts()).isEqualTo(4);
        assertThat(readAll(handle)).isEqualTo(data);
        // the half-written files of failed attempts are gone; only the handle's file remains
        awaitRemoteCount(1);
        assertThat(metrics.retries()).isEqualTo(3);
        assertThat(listSpill()).isEmpty();
    }

    @Test
    void cancelFromAnotherThreadWhileWritingLeavesNothing() throws Exception {
        ResilientStateOutputStream out = stream(services(new FlinkFileSystemStore()), true);
        out.write(randomBytes(4 * BUFFER, 1));
        // on one file system with the target, the spill file is written in place there
        java.nio.file.Path staged = out.spillFile();
        assertThat(staged).exists();
        Future<?> closer = executor.submit(out::close);
        closer.get(10, TimeUnit.SECONDS);
        assertThat(staged).doesNotExist();
        assertThat(listSpill()).isEmpty();
        assertThatThrownBy(() -> out.write(new byte[2 * BUFFER])).isInstanceOf(IOException.class);
        assertThatThrownBy(out::closeAndGetHandle).hasMessageContaining("closed");
        assertThat(listRemote()).isEmpty();
    }

    @Test
    void cancelFromAnotherThreadDuringUploadDeletesLocalAndRemote() throws Exception {
        ScriptedStore store = new ScriptedStore().thenHang();
        ResilientStateOutputStream out = stream(services(store), true);
        out.write(randomBytes(4 * BUFFER, 2));
        Future<StreamStateHandle> uploading = executor.submit(out::closeAndGetHandle);
        assertThat(store.attemptStarted.await(10, TimeUnit.SECONDS)).isTrue();
        awaitRemoteCount(1); // the hung attempt wrote a partial file

        executor.submit(out::close).get(10, TimeUnit.SECONDS);

        assertThatThrownBy(() -> uploading.get(10, TimeUnit.SECONDS))
                .hasCauseInstanceOf(InterruptedIOException.class)
                .hasMessageContaining("cancelled");
        awaitRemoteCount(0);
        assertThat(listSpill()).isEmpty();
        assertThat(store.attempts()).isEqualTo(1);
    }

    @Test
    void cancelDuringUploadDeletesTheAttemptsFileOnAThreadNobodyInterrupted() throws Exception {
        // Like the AWS SDK: a delete on an interrupted thread fails (AbortedException).
        ScriptedStore store = new ScriptedStore().thenHang().refusingCleanupOnInterruptedThreads();
        ResilientStateOutputStream out = stream(services(store), true);
        out.write(randomBytes(4 * BUFFER, 12));
        Future<StreamStateHandle> uploading = executor.submit(out::closeAndGetHandle);
        assertThat(store.attemptStarted.await(10, TimeUnit.SECONDS)).isTrue();
        awaitRemoteCount(1);

        executor.submit(out::close).get(10, TimeUnit.SECONDS);

        assertThatThrownBy(() -> uploading.get(10, TimeUnit.SECONDS))
                .hasCauseInstanceOf(InterruptedIOException.class);
        awaitRemoteCount(0);
        assertThat(store.refusedCleanups()).as("deletes attempted on interrupted threads").isZero();
    }

    @Test
    void interruptedUploadingThreadStillDeletesTheAttemptsFile() throws Exception {
        ScriptedStore store = new ScriptedStore().thenHang().refusingCleanupOnInterruptedThreads();
        ResilientStateOutputStream out = stream(services(store), true);
        out.write(randomBytes(4 * BUFFER, 13));
        Future<StreamStateHandle> uploading = executor.submit(out::closeAndGetHandle);
        assertThat(store.attemptStarted.await(10, TimeUnit.SECONDS)).isTrue();
        awaitRemoteCount(1);

        uploading.cancel(true);
        out.close();

        awaitRemoteCount(0);
        assertThat(listSpill()).isEmpty();
        assertThat(store.refusedCleanups()).as("deletes attempted on interrupted threads").isZero();
    }

    @Test
    void writesAllocateNothing() throws Exception {
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        ResilientStateOutputStream out = stream(services(new FlinkFileSystemStore()), true);
        byte[] chunk = randomBytes(4096, 9);
        byte[] big = randomBytes(3 * BUFFER, 10);
        // warm up: the spill file is opened once (that allocates), the JIT settles
        for (int i = 0; i < 2_000; i++) {
            out.write(chunk);
            out.write(i);
        }
        long id = Thread.currentThread().getId();
        long before = threads.getThreadAllocatedBytes(id);
        for (int i = 0; i < 20_000; i++) {
            out.write(chunk, i % 100, 3000);
            out.write(i);
            if (i % 100 == 0) {
                out.write(big);
            }
        }
        long allocated = threads.getThreadAllocatedBytes(id) - before;
        out.close();
        // ~66 MB written; zero per-call allocation leaves only measurement noise
        assertThat(allocated).as("bytes allocated by 20 200 write calls").isLessThan(64 * 1024);
    }

    private void writeMixed(ResilientStateOutputStream out, byte[] data, Random random)
            throws IOException {
        int i = 0;
        while (i < data.length) {
            int choice = random.nextInt(4);
            if (choice == 0) {
                out.write(data[i++]);
            } else {
                int len =
                        Math.min(
                                data.length - i,
                                choice == 1
                                        ? 4096
                                        : choice == 2 ? 65536 : random.nextInt(3 * BUFFER) + 1);
                out.write(data, i, len);
                i += len;
            }
        }
    }

    static byte[] randomBytes(int size, long seed) {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        return data;
    }

    static byte[] readAll(StreamStateHandle handle) throws IOException {
        try (FSDataInputStream in = handle.openInputStream()) {
            return in.readAllBytes();
        }
    }

    private List<java.nio.file.Path> listRemote() throws IOException {
        try (Stream<java.nio.file.Path> s = Files.list(remote)) {
            return s.toList();
        }
    }

    private List<java.nio.file.Path> listSpill() throws IOException {
        return SpillFiles.under(spill);
    }

    private void awaitRemoteCount(int expected) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (listRemote().size() != expected && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertThat(listRemote()).hasSize(expected);
    }
}
