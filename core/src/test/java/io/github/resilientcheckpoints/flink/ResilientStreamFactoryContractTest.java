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

import io.github.resilientcheckpoints.testing.EntropyTestFileSystem;
import io.github.resilientcheckpoints.testing.SpillFiles;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.util.Iterator;
import java.util.List;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.EntropyInjectingFileSystem;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;
import org.apache.flink.core.fs.local.LocalFileSystem;
import org.apache.flink.core.plugin.PluginManager;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.RelativeFileStateHandle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Port of Flink's {@code FsCheckpointStreamFactoryTest}: handle types and paths of exclusive and
 * shared state, entropy injection, and when bytes reach a file, for the stream factory of {@code
 * ResilientCheckpointStorage}. Flink builds its factory on two given directories; ours comes from
 * the storage, and the directories are the ones Flink's location resolved for it.
 */
class ResilientStreamFactoryContractTest {

    @TempDir private java.nio.file.Path tmp;

    private TestStorages storages;

    @BeforeEach
    void startRuntime() throws IOException {
        storages = new TestStorages("factory-port", Files.createTempDirectory(tmp, "spill"));
    }

    @AfterEach
    void closeRuntime() {
        storages.close();
    }

    // ------------------------------------------------------------------------
    //  tests
    // ------------------------------------------------------------------------

    /**
     * Flink: once the bytes written reach the threshold (= buffer), the stream writes them to its
     * file in the exclusive directory. Ours: the full buffer goes to the local spill file; the
     * exclusive directory gets the whole file at {@code closeAndGetHandle()}.
     */
    @Test
    void testWriteFlushesIfAboveThreshold() throws IOException {
        int fileSizeThreshold = 100;
        TestStorages.Location location =
                createFactory(local(), fileSizeThreshold, fileSizeThreshold);
        CheckpointStateOutputStream stream =
                location.factory()
                        .createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        stream.write(new byte[fileSizeThreshold]);
        stream.write(new byte[fileSizeThreshold - 1]);
        stream.write(127); // should buffer without writing to the file
        List<java.nio.file.Path> files = SpillFiles.under(storages.spillDir());
        assertThat(files).hasSize(1);
        File file = files.get(0).toFile();
        assertThat(file).hasSize(fileSizeThreshold);

        StreamStateHandle handle = stream.closeAndGetHandle();
        File written = new File(((FileStateHandle) handle).getFilePath().toUri().getPath());
        assertThat(written.getParentFile()).isEqualTo(location.exclusiveLocalDir().toFile());
        assertThat(written).hasSize(2L * fileSizeThreshold);
        assertThat(SpillFiles.under(storages.spillDir())).isEmpty();
    }

    @Test
    void testExclusiveStateHasRelativePathHandles() throws IOException {
        TestStorages.Location location = createFactory(local(), 0);
        CheckpointStateOutputStream stream =
                location.factory()
                        .createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        stream.write(1657);
        StreamStateHandle handle = stream.closeAndGetHandle();

        assertThat(handle).isInstanceOf(RelativeFileStateHandle.class);
        assertPathsEqual(
                location.exclusiveDir(),
                ((RelativeFileStateHandle) handle).getFilePath().getParent());
    }

    @Test
    void testSharedStateHasAbsolutePathHandles() throws IOException {
        TestStorages.Location location = createFactory(local(), 0);
        CheckpointStateOutputStream stream =
                location.factory().createCheckpointStateOutputStream(CheckpointedStateScope.SHARED);
        stream.write(0);
        StreamStateHandle handle = stream.closeAndGetHandle();

        assertThat(handle).isInstanceOf(FileStateHandle.class);
        assertThat(handle).isNotInstanceOf(RelativeFileStateHandle.class);
        assertPathsEqual(
                location.sharedDir(), ((FileStateHandle) handle).getFilePath().getParent());
    }

    /**
     * Flink's entropy-aware test file system generates a fixed entropy; the tests' {@code
     * entropytest://} file system generates {@code e0001}, {@code e0002}, ... in place of its
     * marker.
     */
    @Test
    void testEntropyMakesExclusiveStateAbsolutePaths() throws IOException {
        org.apache.flink.core.fs.Path root =
                new org.apache.flink.core.fs.Path(
                        EntropyTestFileSystem.SCHEME
                                + "://"
                                + tmp.resolve(EntropyTestFileSystem.MARKER).resolve("cp"));
        TestStorages.Location location = createFactory(root, 0);
        CheckpointStateOutputStream stream =
                location.factory()
                        .createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        stream.write(0);
        StreamStateHandle handle = stream.closeAndGetHandle();

        assertThat(handle).isInstanceOf(FileStateHandle.class);
        assertThat(handle).isNotInstanceOf(RelativeFileStateHandle.class);
        String exclusive = location.exclusiveDir().toString();
        assertThat(exclusive).contains(EntropyTestFileSystem.MARKER);
        assertThat(((FileStateHandle) handle).getFilePath().getParent().toString())
                .matches(
                        java.util.regex.Pattern.quote(
                                        exclusive.substring(
                                                0, exclusive.indexOf(EntropyTestFileSystem.MARKER)))
                                + "e\\d{4,}"
                                + java.util.regex.Pattern.quote(
                                        exclusive.substring(
                                                exclusive.indexOf(EntropyTestFileSystem.MARKER)
                                                        + EntropyTestFileSystem.MARKER.length())));
    }

    /**
     * Flink's {@code DisabledEntropyFS} (entropy-injecting, but without a key) under a scheme of
     * its own, registered for this test as a plugin would be.
     */
    @Test
    void testFSWithDisabledEntropyHasRelativePaths() throws IOException {
        FileSystem.initialize(new Configuration(), new DisabledEntropyPlugin());
        try {
            org.apache.flink.core.fs.Path root =
                    new org.apache.flink.core.fs.Path(
                            DisabledEntropyFS.SCHEME + "://" + tmp.resolve("cp"));
            TestStorages.Location location = createFactory(root, 0);
            CheckpointStateOutputStream stream =
                    location.factory()
                            .createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
            stream.write(0);
            StreamStateHandle handle = stream.closeAndGetHandle();

            assertThat(handle).isInstanceOf(RelativeFileStateHandle.class);
            assertPathsEqual(
                    location.exclusiveDir(),
                    ((RelativeFileStateHandle) handle).getFilePath().getParent());
        } finally {
            FileSystem.initialize(new Configuration(), null);
        }
    }

    @Test
    void testFlushUnderThreshold() throws IOException {
        flushAndVerify(10, 10, true);
    }

    /**
     * Flink: {@code flush()} with more than the threshold buffered writes the file. Ours: {@code
     * flush()} promises nothing (the bytes become durable in {@code closeAndGetHandle()}), so no
     * file is there after it; {@code closeAndGetHandle()} writes it.
     */
    @Test
    void testFlushAboveThresholdWritesOnlyAtCloseAndGetHandle() throws IOException {
        CheckpointStateOutputStream stream = flushAndVerify(10, 11, true);
        StreamStateHandle handle = stream.closeAndGetHandle();
        assertThat(handle).isInstanceOf(RelativeFileStateHandle.class);
        assertThat(handle.getStateSize()).isEqualTo(11);
    }

    // ------------------------------------------------------------------------
    //  test utils
    // ------------------------------------------------------------------------

    private CheckpointStateOutputStream flushAndVerify(
            int minFileSize, int bytesToFlush, boolean expectEmpty) throws IOException {
        TestStorages.Location location = createFactory(local(), minFileSize);
        CheckpointStateOutputStream stream =
                location.factory()
                        .createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);

        stream.write(new byte[bytesToFlush], 0, bytesToFlush);
        stream.flush();
        File[] files = location.exclusiveLocalDir().toFile().listFiles();
        assertThat(files == null ? new File[0] : files).hasSize(expectEmpty ? 0 : 1);
        return stream;
    }

    private static void assertPathsEqual(
            org.apache.flink.core.fs.Path expected, org.apache.flink.core.fs.Path actual) {
        final org.apache.flink.core.fs.Path reNormalizedExpected =
                new org.apache.flink.core.fs.Path(expected.toString());
        assertThat(actual).isEqualTo(reNormalizedExpected);
    }

    private org.apache.flink.core.fs.Path local() throws IOException {
        return org.apache.flink.core.fs.Path.fromLocalFile(
                Files.createTempDirectory(tmp, "cp").toFile());
    }

    private TestStorages.Location createFactory(
            org.apache.flink.core.fs.Path root, int fileSizeThreshold) throws IOException {
        return createFactory(root, fileSizeThreshold, 4096);
    }

    private TestStorages.Location createFactory(
            org.apache.flink.core.fs.Path root, int fileSizeThreshold, int bufferSize)
            throws IOException {
        Configuration conf =
                TestStorages.withStreamSizes(storages.config(root), bufferSize, fileSizeThreshold);
        return storages.checkpoint(conf, 1L);
    }

    private static final class DisabledEntropyFS extends LocalFileSystem
            implements EntropyInjectingFileSystem {
        static final String SCHEME = "disabledentropy";

        @Override
        public String getEntropyInjectionKey() {
            return null;
        }

        @Override
        public String generateEntropy() {
            return null;
        }

        @Override
        public URI getUri() {
            return URI.create(SCHEME + ":///");
        }
    }

    private static final class DisabledEntropyPlugin implements PluginManager {
        @Override
        @SuppressWarnings("unchecked")
        public <P> Iterator<P> load(Class<P> service) {
            if (service != FileSystemFactory.class) {
                return java.util.Collections.emptyIterator();
            }
            FileSystemFactory factory =
                    new FileSystemFactory() {
                        @Override
                        public String getScheme() {
                            return DisabledEntropyFS.SCHEME;
                        }

                        @Override
                        public FileSystem create(URI fsUri) {
                            return new DisabledEntropyFS();
                        }
                    };
            return (Iterator<P>) List.of(factory).iterator();
        }
    }
}
