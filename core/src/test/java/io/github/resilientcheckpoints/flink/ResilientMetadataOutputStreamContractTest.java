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

import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageAccess;
import io.github.resilientcheckpoints.storage.jm.JobManagerLocation;
import io.github.resilientcheckpoints.testing.FaultyFileSystem;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.Collection;
import org.apache.flink.api.common.JobID;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
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
 * Port of Flink's {@code FsCheckpointMetadataOutputStreamTest} to the {@code _metadata} stream of
 * {@code ResilientCheckpointStorage} (a checkpoint location's {@code
 * createMetadataOutputStream()}). Flink's two file systems are two schemes here: {@code file://}
 * (Flink's local file system, with a recoverable writer) and the tests' {@code faulty://} (without
 * one, as object stores).
 *
 * <p>Our stream buffers the metadata and writes it in {@code closeAndFinalizeCheckpoint()}: before
 * that no file exists with either file system (Flink's stream without a recoverable writer creates
 * it at once).
 */
@ExtendWith(ParameterizedTestExtension.class)
public class ResilientMetadataOutputStreamContractTest {

    @Parameter public String scheme;

    @TempDir private java.nio.file.Path tempDir;

    private TestStorages storages;

    @Parameters(name = "{0}")
    public static Collection<String> getFileSystems() {
        return Arrays.asList("file", FaultyFileSystem.SCHEME);
    }

    @BeforeEach
    void startRuntime() throws IOException {
        storages = new TestStorages("metadata-port", Files.createTempDirectory(tempDir, "spill"));
    }

    @AfterEach
    void closeRuntime() {
        storages.close();
    }

    @TestTemplate
    void testFileExistence() throws Exception {
        CheckpointStorageLocation location = location();
        Path metaDataFilePath = metadataPath(location);
        FileSystem fileSystem = metaDataFilePath.getFileSystem();
        CheckpointMetadataOutputStream stream = createTestStream(location);

        // Flink: true without a recoverable writer; ours writes nothing before finalizing
        assertThat(fileSystem.exists(metaDataFilePath)).isFalse();

        stream.closeAndFinalizeCheckpoint();
        assertThat(fileSystem.exists(metaDataFilePath)).isTrue();
    }

    @TestTemplate
    void testCleanupWhenClosed() throws Exception {
        CheckpointStorageLocation location = location();
        Path metaDataFilePath = metadataPath(location);
        CheckpointMetadataOutputStream stream = createTestStream(location);

        stream.close();
        assertThat(metaDataFilePath.getFileSystem().exists(metaDataFilePath)).isFalse();
    }

    /**
     * Flink makes the close of the file's stream fail. Here the commit fails for good: the
     * checkpoint directory has become a plain file, so {@code _metadata} cannot be created (every
     * retry fails too).
     */
    @TestTemplate
    void testCleanupWhenCommitFailed() throws Exception {
        CheckpointStorageLocation location = location();
        Path metaDataFilePath = metadataPath(location);
        java.nio.file.Path directory =
                java.nio.file.Paths.get(metaDataFilePath.getParent().getPath());
        Files.delete(directory);
        Files.writeString(directory, "not a directory");

        CheckpointMetadataOutputStream stream = createTestStream(location);
        assertThatThrownBy(stream::closeAndFinalizeCheckpoint)
                .withFailMessage("Exception expected when committing the meta file.")
                .isInstanceOf(IOException.class);
        assertThat(Files.isRegularFile(directory)).isTrue();
        assertThat(metaDataFilePath.getFileSystem().exists(metaDataFilePath)).isFalse();
    }

    private CheckpointMetadataOutputStream createTestStream(CheckpointStorageLocation location)
            throws IOException {
        CheckpointMetadataOutputStream stream = location.createMetadataOutputStream();
        for (int i = 0; i < 100; i++) {
            stream.write(0x42);
        }
        return stream;
    }

    /** Flink: a random file in a new folder; here the {@code _metadata} of a new checkpoint. */
    private CheckpointStorageLocation location() throws Exception {
        java.nio.file.Path dir = TempDirUtils.newFolder(tempDir).toPath();
        Path root =
                "file".equals(scheme)
                        ? Path.fromLocalFile(dir.toFile())
                        : new Path(FaultyFileSystem.uri(dir));
        ResilientCheckpointStorageAccess access =
                storages.access(storages.config(root), new JobID());
        access.initializeBaseLocationsForCheckpoint();
        return access.initializeLocationForCheckpoint(1L);
    }

    private static Path metadataPath(CheckpointStorageLocation location) {
        return ((JobManagerLocation) location).flinkLocation().getMetadataFilePath();
    }
}
