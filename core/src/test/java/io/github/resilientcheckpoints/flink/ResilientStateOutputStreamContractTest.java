/*
 * Licensed to the Apache Software Foundation (ASF) under one
 * or more contributor license agreements.  See the NOTICE file
 * distributed with this work for additional information
 * regarding copyright ownership.  The ASF licenses this file
 * to you under the Apache License, Version 2.0 (the
 * "License"); you may not use this file except in compliance
 * with the License.  You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

package io.github.resilientcheckpoints.flink;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.storage.ResilientStateOutputStream;
import io.github.resilientcheckpoints.storage.WorkerServices;
import io.github.resilientcheckpoints.testing.FaultyFileSystem;
import io.github.resilientcheckpoints.testing.SpillFiles;
import java.io.DataInputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.flink.configuration.ConfigConstants;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;
import org.apache.flink.testutils.junit.extensions.parameterized.Parameter;
import org.apache.flink.testutils.junit.extensions.parameterized.ParameterizedTestExtension;
import org.apache.flink.testutils.junit.extensions.parameterized.Parameters;
import org.apache.flink.testutils.junit.utils.TempDirUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestTemplate;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Port of Flink's {@code FsCheckpointStateOutputStreamTest}: the same sizes, thresholds and
 * assertions, on streams opened through {@code ResilientCheckpointStorage} (buffer size and
 * threshold set as {@code execution.checkpointing.fs-buffer-size / memory-threshold}, as a user
 * sets them for Flink's storage). Flink's parameter {@code relativePaths} is the scope: exclusive
 * state may have relative handles, shared state never.
 *
 * <p>Where Flink checks its stream's remote file with a mocked {@code FileSystem} (created when the
 * buffer fills, deleted on close), our stream has a local spill file until {@code
 * closeAndGetHandle()}: those tests assert the same clean-up on the spill file and the target
 * directory, and use the {@code faulty://} file system of the tests for store failures.
 */
@ExtendWith(ParameterizedTestExtension.class)
public class ResilientStateOutputStreamContractTest {

    @Parameter public boolean relativePaths;

    @TempDir private java.nio.file.Path tempDir;

    private TestStorages storages;

    @Parameters(name = "relativePaths = {0}")
    public static List<Boolean> parameters() {
        return Arrays.asList(true, false);
    }

    @BeforeEach
    void startRuntime() throws IOException {
        storages = new TestStorages("stream-port", Files.createTempDirectory(tempDir, "spill"));
    }

    @AfterEach
    void closeRuntime() {
        FaultyFileSystem.failStateWrites.set(0);
        CountDownLatch gate = FaultyFileSystem.holdStateWrites;
        FaultyFileSystem.holdStateWrites = null;
        if (gate != null) {
            gate.countDown();
        }
        storages.close();
    }

    private CheckpointedStateScope scope() {
        return relativePaths ? CheckpointedStateScope.EXCLUSIVE : CheckpointedStateScope.SHARED;
    }

    /**
     * Flink: {@code new FsCheckpointStateOutputStream(dir, fs, bufferSize, threshold, relative)}.
     */
    private TestStorages.Location location(Path checkpointDir, int bufferSize, int threshold)
            throws IOException {
        Configuration conf =
                TestStorages.withStreamSizes(storages.config(checkpointDir), bufferSize, threshold);
        return storages.checkpoint(conf, 1L);
    }

    private CheckpointStateOutputStream newStream(int bufferSize, int threshold)
            throws IOException {
        return location(Path.fromLocalFile(TempDirUtils.newFolder(tempDir)), bufferSize, threshold)
                .factory()
                .createCheckpointStateOutputStream(scope());
    }

    private java.nio.file.Path targetDir(TestStorages.Location location) {
        return relativePaths ? location.exclusiveLocalDir() : location.sharedLocalDir();
    }

    /**
     * Flink's stream refuses a buffer smaller than the threshold. So does ours; through the storage
     * (Flink's or ours) the buffer is raised to the threshold instead.
     */
    @TestTemplate
    void testWrongParameters() throws Exception {
        // this should fail
        assertThatThrownBy(
                        () ->
                                new ResilientStateOutputStream(
                                        Path.fromLocalFile(TempDirUtils.newFolder(tempDir)),
                                        relativePaths,
                                        5000,
                                        4000,
                                        (WorkerServices) null,
                                        0L))
                .isInstanceOf(IllegalArgumentException.class);

        CheckpointStateOutputStream raised = newStream(4000, 5000);
        raised.write(new byte[4500]);
        assertThat(raised.closeAndGetHandle()).isInstanceOf(ByteStreamStateHandle.class);
    }

    @TestTemplate
    void testEmptyState() throws Exception {
        CheckpointStateOutputStream stream = newStream(1024, 512);

        StreamStateHandle handle = stream.closeAndGetHandle();
        assertThat(handle).isNull();
    }

    @TestTemplate
    void testStateBelowMemThreshold() throws Exception {
        runTest(999, 1024, 1000, false);
    }

    @TestTemplate
    void testStateOneBufferAboveThreshold() throws Exception {
        runTest(896, 1024, 15, true);
    }

    @TestTemplate
    void testStateAboveMemThreshold() throws Exception {
        runTest(576446, 259, 17, true);
    }

    @TestTemplate
    void testZeroThreshold() throws Exception {
        runTest(16678, 4096, 0, true);
    }

    @TestTemplate
    void testGetPos() throws Exception {
        CheckpointStateOutputStream stream = newStream(31, 17);

        for (int i = 0; i < 64; ++i) {
            assertThat(stream.getPos()).isEqualTo(i);
            stream.write(0x42);
        }

        stream.closeAndGetHandle();

        // ----------------------------------------------------

        stream = newStream(31, 17);

        byte[] data = "testme!".getBytes(ConfigConstants.DEFAULT_CHARSET);

        for (int i = 0; i < 7; ++i) {
            assertThat(stream.getPos()).isEqualTo(i * (1L + data.length));
            stream.write(0x42);
            stream.write(data);
        }

        stream.closeAndGetHandle();
    }

    /**
     * Flink: once the buffer is full, the stream's file exists (created through the mocked file
     * system), and {@code close()} deletes it. Ours: the full buffer goes to a local spill file
     * (and possibly, already, to a remote file written alongside it); {@code close()} deletes both.
     */
    @TestTemplate
    void testCleanupWhenClosingStream() throws IOException {
        TestStorages.Location location =
                location(Path.fromLocalFile(TempDirUtils.newFolder(tempDir)), 0, 4);
        CheckpointStateOutputStream stream =
                location.factory().createCheckpointStateOutputStream(scope());

        // this should create the underlying file stream
        stream.write(new byte[] {1, 2, 3, 4, 5});

        assertThat(SpillFiles.under(storages.spillDir())).hasSize(1);

        stream.close();

        assertThat(SpillFiles.under(storages.spillDir())).isEmpty();
        assertThat(filesIn(targetDir(location))).isEmpty();
    }

    /**
     * Flink: the remote stream's close fails, {@code closeAndGetHandle()} throws and the file is
     * deleted. Ours: every upload attempt fails in the middle ({@code faulty://}); after the
     * retries {@code closeAndGetHandle()} throws and neither a remote nor a spill file is left.
     */
    @TestTemplate
    void testCleanupWhenFailingCloseAndGetHandle() throws Exception {
        TestStorages.Location location = faultyLocation(4, 0);
        CheckpointStateOutputStream stream =
                location.factory().createCheckpointStateOutputStream(scope());

        FaultyFileSystem.failStateWrites.set(1_000);
        stream.write(new byte[2 * (int) FaultyFileSystem.STATE_FAULT_AFTER_BYTES]);

        assertThatThrownBy(stream::closeAndGetHandle).isInstanceOf(IOException.class);
        // A failed attempt's file is deleted in the background (a delete is a store call, and the
        // store is failing: a Flink thread never waits on it). Under load that delete can come
        // after closeAndGetHandle() has thrown: a full run failed here when this was asserted at
        // once.
        awaitNoFilesIn(targetDir(location));
        assertThat(SpillFiles.under(storages.spillDir())).isEmpty();
    }

    private void runTest(int numBytes, int bufferSize, int threshold, boolean expectFile)
            throws Exception {
        CheckpointStateOutputStream stream = newStream(bufferSize, threshold);

        Random rnd = new Random();
        byte[] original = new byte[numBytes];
        byte[] bytes = new byte[original.length];

        rnd.nextBytes(original);
        System.arraycopy(original, 0, bytes, 0, original.length);

        // the test writes a mixture of writing individual bytes and byte arrays
        int pos = 0;
        while (pos < bytes.length) {
            boolean single = rnd.nextBoolean();
            if (single) {
                stream.write(bytes[pos++]);
            } else {
                int num =
                        rnd.nextBoolean() ? (bytes.length - pos) : rnd.nextInt(bytes.length - pos);
                stream.write(bytes, pos, num);
                pos += num;
            }
        }

        StreamStateHandle handle = stream.closeAndGetHandle();
        if (expectFile) {
            assertThat(handle).isInstanceOf(FileStateHandle.class);
        } else {
            assertThat(handle).isInstanceOf(ByteStreamStateHandle.class);
        }

        // make sure the writing process did not alter the original byte array
        assertThat(bytes).isEqualTo(original);

        try (InputStream inStream = handle.openInputStream()) {
            byte[] validation = new byte[bytes.length];

            DataInputStream dataInputStream = new DataInputStream(inStream);
            dataInputStream.readFully(validation);

            assertThat(validation).isEqualTo(bytes);
        }

        handle.discardState();
    }

    /**
     * Flink's stream throws on {@code write} after {@code close()} (its {@code isClosed()} is not
     * part of the SPI). A stream closed by another thread (cancellation) must not take more bytes.
     */
    @TestTemplate
    void testWriteFailsFastWhenClosed() throws Exception {
        CheckpointStateOutputStream stream = newStream(1024, 512);

        stream.close();

        assertThatThrownBy(() -> stream.write(1)).isInstanceOf(IOException.class);
        assertThatThrownBy(() -> stream.write(new byte[4], 1, 2)).isInstanceOf(IOException.class);
    }

    @TestTemplate
    void testMixedBelowAndAboveThreshold() throws Exception {
        final byte[] state1 = new byte[1274673];
        final byte[] state2 = new byte[1];
        final byte[] state3 = new byte[0];
        final byte[] state4 = new byte[177];

        final Random rnd = new Random();
        rnd.nextBytes(state1);
        rnd.nextBytes(state2);
        rnd.nextBytes(state3);
        rnd.nextBytes(state4);

        final TestStorages.Location location =
                location(Path.fromLocalFile(TempDirUtils.newFolder(tempDir)), 1024, 15);
        final File directory = targetDir(location).toFile();

        final Supplier<CheckpointStateOutputStream> factory =
                () -> {
                    try {
                        return location.factory().createCheckpointStateOutputStream(scope());
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                };

        CheckpointStateOutputStream stream1 = factory.get();
        CheckpointStateOutputStream stream2 = factory.get();
        CheckpointStateOutputStream stream3 = factory.get();

        stream1.write(state1);
        stream2.write(state2);
        stream3.write(state3);

        FileStateHandle handle1 = (FileStateHandle) stream1.closeAndGetHandle();
        ByteStreamStateHandle handle2 = (ByteStreamStateHandle) stream2.closeAndGetHandle();
        ByteStreamStateHandle handle3 = (ByteStreamStateHandle) stream3.closeAndGetHandle();

        // use with try-with-resources
        StreamStateHandle handle4;
        try (CheckpointStateOutputStream stream4 = factory.get()) {
            stream4.write(state4);
            handle4 = stream4.closeAndGetHandle();
        }

        // close before accessing handle
        CheckpointStateOutputStream stream5 = factory.get();
        stream5.write(state4);
        stream5.close();
        assertThatThrownBy(stream5::closeAndGetHandle).isInstanceOf(IOException.class);

        validateBytesInStream(handle1.openInputStream(), state1);
        handle1.discardState();
        assertThat(isDirectoryEmpty(directory)).isFalse();
        ensureLocalFileDeleted(handle1.getFilePath());

        validateBytesInStream(handle2.openInputStream(), state2);
        handle2.discardState();
        assertThat(isDirectoryEmpty(directory)).isFalse();

        // nothing was written to the stream, so it will return nothing
        assertThat(handle3).isNull();
        assertThat(isDirectoryEmpty(directory)).isFalse();

        validateBytesInStream(handle4.openInputStream(), state4);
        handle4.discardState();
        assertThat(isDirectoryEmpty(directory)).isTrue();
    }

    // ------------------------------------------------------------------------
    //  Not deleting parent directories
    // ------------------------------------------------------------------------

    /**
     * This test checks that the stream does not check and clean the parent directory when
     * encountering a write error. Flink makes the directory unwritable (which does not stop root)
     * and checks that {@code delete} is never called; here every upload fails in the middle ({@code
     * faulty://}): our stream deletes its own partial files, and never the directory.
     */
    @TestTemplate
    void testStreamDoesNotTryToCleanUpParentOnError() throws Exception {
        TestStorages.Location location = faultyLocation(1024, 1);
        final File directory = targetDir(location).toFile();
        assertThat(directory.mkdirs()).isTrue();

        CheckpointStateOutputStream stream1 =
                location.factory().createCheckpointStateOutputStream(scope());
        CheckpointStateOutputStream stream2 =
                location.factory().createCheckpointStateOutputStream(scope());

        FaultyFileSystem.failStateWrites.set(1_000);
        stream1.write(new byte[2 * (int) FaultyFileSystem.STATE_FAULT_AFTER_BYTES]);
        stream2.write(new byte[2 * (int) FaultyFileSystem.STATE_FAULT_AFTER_BYTES]);

        assertThatThrownBy(stream1::closeAndGetHandle).isInstanceOf(IOException.class);

        // also close the second stream
        stream2.close();

        // the parent directory should still exist
        assertThat(directory).exists();
        assertThat(directory).isDirectory();
        // the failed attempts' files are deleted in the background
        awaitNoFilesIn(directory.toPath());
        assertThat(directory).isDirectory();
    }

    /**
     * Flink: the {@code CloseableRegistry} of the task closes the stream from another thread while
     * the stream creates its remote file; the file's stream must still be closed. Ours: the
     * registry closes the stream while its upload is in the store (held there); {@code
     * closeAndGetHandle()} then fails and nothing is left, remote or local.
     */
    @TestTemplate
    public void testCleanupWhenCloseableRegistryClosedBeforeCreatingStream() throws Exception {
        TestStorages.Location location = faultyLocation(1024, 1);
        CheckpointStateOutputStream outputStream =
                location.factory().createCheckpointStateOutputStream(scope());
        outputStream.write(new byte[100]);
        FaultyFileSystem.holdStateWrites = new CountDownLatch(1);
        long held = FaultyFileSystem.HELD_STATE_WRITES.get();

        CloseableRegistry closeableRegistry = new CloseableRegistry();
        closeableRegistry.registerCloseable(outputStream);
        ExecutorService snapshotThread = Executors.newSingleThreadExecutor();
        try {
            CompletableFuture<StreamStateHandle> upload =
                    CompletableFuture.supplyAsync(
                            () -> {
                                try {
                                    return outputStream.closeAndGetHandle();
                                } catch (IOException e) {
                                    throw new RuntimeException(e);
                                }
                            },
                            snapshotThread);
            long waitUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (FaultyFileSystem.HELD_STATE_WRITES.get() == held
                    && System.nanoTime() < waitUntil) {
                Thread.sleep(5);
            }
            assertThat(FaultyFileSystem.HELD_STATE_WRITES.get())
                    .as("the upload reached the store")
                    .isGreaterThan(held);

            closeableRegistry.close();

            assertThatThrownBy(() -> upload.get(10, TimeUnit.SECONDS))
                    .hasRootCauseInstanceOf(IOException.class);
        } finally {
            FaultyFileSystem.holdStateWrites.countDown();
            snapshotThread.shutdownNow();
        }
        // The held attempt ends when the store answers; what it wrote is deleted then, in the
        // background (close() does not wait for a hung store).
        awaitNoFilesIn(targetDir(location));
        assertThat(SpillFiles.under(storages.spillDir())).isEmpty();
    }

    // ------------------------------------------------------------------------
    //  utilities
    // ------------------------------------------------------------------------

    /** A checkpoint location on {@code faulty://} (state writes fail or hang when armed). */
    private TestStorages.Location faultyLocation(int bufferSize, int threshold) throws IOException {
        java.nio.file.Path dir = TempDirUtils.newFolder(tempDir).toPath();
        return location(new Path(FaultyFileSystem.uri(dir)), bufferSize, threshold);
    }

    private static void awaitNoFilesIn(java.nio.file.Path dir) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!filesIn(dir).isEmpty() && System.nanoTime() < until) {
            Thread.sleep(10);
        }
        assertThat(filesIn(dir)).isEmpty();
    }

    /**
     * The files below a directory (none when it does not exist). Lists again when a file is deleted
     * while it is listed: a background discard may delete one at any time.
     */
    private static List<java.nio.file.Path> filesIn(java.nio.file.Path dir) throws IOException {
        while (true) {
            if (!Files.exists(dir)) {
                return List.of();
            }
            try (var files = Files.walk(dir)) {
                return files.filter(Files::isRegularFile).toList();
            } catch (NoSuchFileException deletedMeanwhile) {
                // the directory itself went away: look again
            } catch (UncheckedIOException e) {
                if (!(e.getCause() instanceof NoSuchFileException)) {
                    throw e;
                }
            }
        }
    }

    private static void ensureLocalFileDeleted(Path path) {
        URI uri = path.toUri();
        if ("file".equals(uri.getScheme())) {
            File file = new File(uri.getPath());
            assertThat(file).withFailMessage("file not properly deleted").doesNotExist();
        } else {
            throw new IllegalArgumentException("not a local path");
        }
    }

    private static boolean isDirectoryEmpty(File directory) {
        if (!directory.exists()) {
            return true;
        }
        String[] nested = directory.list();
        return nested == null || nested.length == 0;
    }

    private static void validateBytesInStream(InputStream is, byte[] data) throws IOException {
        try {
            byte[] holder = new byte[data.length];

            int pos = 0;
            int read;
            while (pos < holder.length
                    && (read = is.read(holder, pos, holder.length - pos)) != -1) {
                pos += read;
            }

            assertThat(pos).withFailMessage("not enough data").isEqualTo(holder.length);
            assertThat(is.read()).withFailMessage("too much data").isEqualTo(-1);
            assertThat(holder).withFailMessage("wrong data").isEqualTo(data);
        } finally {
            is.close();
        }
    }
}
