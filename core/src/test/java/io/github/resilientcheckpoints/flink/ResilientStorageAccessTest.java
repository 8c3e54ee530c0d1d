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
import io.github.resilientcheckpoints.storage.ResilientStateOutputStream;
import io.github.resilientcheckpoints.storage.jm.JobManagerLocation;
import java.io.File;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageAccess;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.NotDuplicatingCheckpointStateToolset;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.AbstractFsCheckpointStorageAccess;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;
import org.apache.flink.testutils.junit.utils.TempDirUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Port of Flink's {@code FsCheckpointStorageAccessTest} (flink-runtime, the tests of its own; the
 * inherited ones run unchanged in {@link FlinkStorageAccessContractTest}): the same storage set-ups
 * and assertions, through {@code ResilientCheckpointStorage}'s access. Where Flink reaches into its
 * own classes ({@code FsCheckpointStateOutputStream#flushToFile}, a mocked {@code FileSystem}), the
 * same property is shown through the public SPI; see the comments.
 */
class ResilientStorageAccessTest {

    private static final int FILE_SIZE_THRESHOLD = 1024;
    private static final int WRITE_BUFFER_SIZE = 4096;

    @TempDir java.nio.file.Path tmp;

    private TestStorages storages;

    @BeforeEach
    void startRuntime() throws Exception {
        storages = new TestStorages("access-port", Files.createTempDirectory(tmp, "spill"));
    }

    @AfterEach
    void closeRuntime() {
        storages.close();
    }

    private ResilientCheckpointStorageAccess access(
            Path checkpointDir, Path savepointDir, JobID job, int threshold) throws Exception {
        Configuration conf =
                TestStorages.withStreamSizes(
                        storages.config(checkpointDir), WRITE_BUFFER_SIZE, threshold);
        if (savepointDir != null) {
            conf.set(CheckpointingOptions.SAVEPOINT_DIRECTORY, savepointDir.toString());
        }
        return storages.access(conf, job);
    }

    private Path randomTempPath() throws Exception {
        return Path.fromLocalFile(TempDirUtils.newFolder(tmp));
    }

    @Test
    void testSavepointsInOneDirectoryDefaultLocation() throws Exception {
        Path defaultSavepointDir = randomTempPath();
        ResilientCheckpointStorageAccess storage =
                access(randomTempPath(), defaultSavepointDir, new JobID(), FILE_SIZE_THRESHOLD);

        FsCheckpointStorageLocation savepointLocation =
                flinkLocation(storage.initializeLocationForSavepoint(52452L, null));

        // all state types should be in the expected location
        assertParent(defaultSavepointDir, savepointLocation.getCheckpointDirectory());
        assertParent(defaultSavepointDir, savepointLocation.getSharedStateDirectory());
        assertParent(defaultSavepointDir, savepointLocation.getTaskOwnedStateDirectory());

        // cleanup
        savepointLocation.disposeOnFailure();
    }

    @Test
    void testSavepointsInOneDirectoryCustomLocation() throws Exception {
        Path savepointDir = randomTempPath();
        ResilientCheckpointStorageAccess storage =
                access(randomTempPath(), null, new JobID(), FILE_SIZE_THRESHOLD);

        FsCheckpointStorageLocation savepointLocation =
                flinkLocation(
                        storage.initializeLocationForSavepoint(52452L, savepointDir.toString()));

        // all state types should be in the expected location
        assertParent(savepointDir, savepointLocation.getCheckpointDirectory());
        assertParent(savepointDir, savepointLocation.getSharedStateDirectory());
        assertParent(savepointDir, savepointLocation.getTaskOwnedStateDirectory());

        // cleanup
        savepointLocation.disposeOnFailure();
    }

    @Test
    void testTaskOwnedStateStream() throws Exception {
        List<String> state = Arrays.asList("Flopsy", "Mopsy", "Cotton Tail", "Peter");

        // we chose a small size threshold here to force the state to disk
        ResilientCheckpointStorageAccess storage = access(randomTempPath(), null, new JobID(), 10);

        StreamStateHandle stateHandle;
        try (CheckpointStateOutputStream stream = storage.createTaskOwnedStateStream()) {
            // Flink: isInstanceOf(FsCheckpointStateOutputStream.class)
            assertThat(stream).isInstanceOf(ResilientStateOutputStream.class);
            new ObjectOutputStream(stream).writeObject(state);
            stateHandle = stream.closeAndGetHandle();
        }

        // the state must have gone to disk
        FileStateHandle fileStateHandle = (FileStateHandle) stateHandle;

        // check that the state is in the correct directory
        String parentDirName = fileStateHandle.getFilePath().getParent().getName();
        assertThat(parentDirName)
                .isEqualTo(AbstractFsCheckpointStorageAccess.CHECKPOINT_TASK_OWNED_STATE_DIR);

        // validate the contents
        try (ObjectInputStream in = new ObjectInputStream(stateHandle.openInputStream())) {
            assertThat(in.readObject()).isEqualTo(state);
        }
    }

    /**
     * Flink writes one byte and forces it into a file with {@code flushToFile()}, a method of its
     * own stream class. Our streams are plain {@link CheckpointStateOutputStream}s: a threshold of
     * 0 forces the byte into a file the same way.
     */
    @Test
    void testDirectoriesForExclusiveAndSharedState() throws Exception {
        final FileSystem fs = LocalFileSystem.getSharedInstance();
        ResilientCheckpointStorageAccess storage = access(randomTempPath(), null, new JobID(), 0);
        storage.initializeBaseLocationsForCheckpoint();
        CheckpointStorageLocation jmLocation = storage.initializeLocationForCheckpoint(1L);
        TestStorages.Location storageLocation =
                TestStorages.resolve(storage, 1L, jmLocation.getLocationReference());

        assertThat(storageLocation.sharedDir()).isNotEqualTo(storageLocation.exclusiveDir());

        assertThat(fs.listStatus(storageLocation.exclusiveDir())).isEmpty();
        assertThat(fs.listStatus(storageLocation.sharedDir())).isEmpty();

        // create exclusive state

        CheckpointStateOutputStream exclusiveStream =
                storageLocation
                        .factory()
                        .createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);

        exclusiveStream.write(42);
        StreamStateHandle exclusiveHandle = exclusiveStream.closeAndGetHandle();

        assertThat(fs.listStatus(storageLocation.exclusiveDir())).hasSize(1);
        assertThat(fs.listStatus(storageLocation.sharedDir())).isEmpty();

        // create shared state

        CheckpointStateOutputStream sharedStream =
                storageLocation
                        .factory()
                        .createCheckpointStateOutputStream(CheckpointedStateScope.SHARED);

        sharedStream.write(42);
        StreamStateHandle sharedHandle = sharedStream.closeAndGetHandle();

        assertThat(fs.listStatus(storageLocation.exclusiveDir())).hasSize(1);
        assertThat(fs.listStatus(storageLocation.sharedDir())).hasSize(1);

        // drop state

        exclusiveHandle.discardState();
        sharedHandle.discardState();
    }

    /**
     * This test checks that the expected mkdirs action for checkpoint storage, only called when
     * initializeBaseLocations and not called when resolveCheckpointStorageLocation.
     */
    @Test
    void testStorageLocationMkdirs() throws Exception {
        Path checkpointDir = randomTempPath();
        JobID job = new JobID();
        ResilientCheckpointStorageAccess storage =
                access(checkpointDir, null, job, FILE_SIZE_THRESHOLD);

        // Flink: storage.getCheckpointsDirectory() (not public in Flink 1.20): <root>/<job-id>
        File baseDir = new File(new Path(checkpointDir, job.toString()).getPath());
        assertThat(baseDir).doesNotExist();

        // mkdirs would only be called when initializeBaseLocations
        storage.initializeBaseLocationsForCheckpoint();
        assertThat(baseDir).exists();

        // mkdir would not be called when resolveCheckpointStorageLocation
        storage = access(randomTempPath(), null, new JobID(), FILE_SIZE_THRESHOLD);

        TestStorages.Location location =
                TestStorages.resolve(
                        storage, 177L, CheckpointStorageLocationReference.getDefault());

        File checkpointDirFile = new File(location.exclusiveDir().getPath());
        assertThat(checkpointDirFile).doesNotExist();
    }

    /**
     * Flink checks, with a mocked {@code FileSystem}, that a default reference resolves to the
     * checkpoint directory's file system and a savepoint reference to the savepoint path's. Our
     * stream factory does not expose its file system: the same resolution is shown by where the
     * streams of each reference write.
     */
    @Test
    void testResolveCheckpointStorageLocation() throws Exception {
        Path checkpointDir = randomTempPath();
        JobID job = new JobID();
        ResilientCheckpointStorageAccess storage = access(checkpointDir, null, job, 0);

        StreamStateHandle checkpointState =
                writeOneByte(
                        storage.resolveCheckpointStorageLocation(
                                1L, CheckpointStorageLocationReference.getDefault()));
        assertThat(((FileStateHandle) checkpointState).getFilePath().getParent())
                .isEqualTo(
                        new Path(
                                new Path(checkpointDir, job.toString()),
                                AbstractFsCheckpointStorageAccess.CHECKPOINT_DIR_PREFIX + 1));

        Path savepoint = new Path(randomTempPath(), "savepoint-1");
        CheckpointStorageLocationReference savepointLocationReference =
                AbstractFsCheckpointStorageAccess.encodePathAsReference(savepoint);
        StreamStateHandle savepointState =
                writeOneByte(
                        storage.resolveCheckpointStorageLocation(2L, savepointLocationReference));
        assertThat(((FileStateHandle) savepointState).getFilePath().getParent())
                .isEqualTo(savepoint);
    }

    private static StreamStateHandle writeOneByte(
            org.apache.flink.runtime.state.CheckpointStreamFactory factory) throws Exception {
        try (CheckpointStateOutputStream out =
                factory.createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE)) {
            out.write(42);
            return out.closeAndGetHandle();
        }
    }

    @Test
    void testNotDuplicationCheckpointStateToolset() throws Exception {
        CheckpointStorageAccess checkpointStorage =
                access(randomTempPath(), null, new JobID(), FILE_SIZE_THRESHOLD);
        assertThat(checkpointStorage.createTaskOwnedCheckpointStateToolset())
                .isInstanceOf(NotDuplicatingCheckpointStateToolset.class);
    }

    /**
     * Replaces Flink's {@code testDuplicationCheckpointStateToolset} (a file system that copies
     * paths gets a duplicating toolset): our storage never duplicates state server-side, so that
     * every byte goes through the retried upload path; the toolset does not duplicate and the
     * stream factory says so.
     */
    @Test
    void stateIsNeverDuplicatedServerSide() throws Exception {
        ResilientCheckpointStorageAccess checkpointStorage =
                access(randomTempPath(), null, new JobID(), FILE_SIZE_THRESHOLD);
        assertThat(checkpointStorage.createTaskOwnedCheckpointStateToolset())
                .isInstanceOf(NotDuplicatingCheckpointStateToolset.class);
        TestStorages.Location location =
                TestStorages.resolve(
                        checkpointStorage, 1L, CheckpointStorageLocationReference.getDefault());
        StreamStateHandle handle = writeOneByte(location.factory());
        assertThat(location.factory().canFastDuplicate(handle, CheckpointedStateScope.EXCLUSIVE))
                .isFalse();
    }

    /**
     * What we promise where Flink's inherited {@code writeToAlreadyExistingCheckpointFails} expects
     * {@code createMetadataOutputStream()} itself to fail: our metadata stream is buffered and
     * written at {@code closeAndFinalizeCheckpoint()}, so that is where a second {@code _metadata}
     * for the same checkpoint fails; the first one is never replaced.
     */
    @Test
    void secondMetadataForTheSameCheckpointFailsAtFinalizeAndLeavesTheFirst() throws Exception {
        final byte[] data = {8, 8, 4, 5, 2, 6, 3};
        ResilientCheckpointStorageAccess storage =
                access(randomTempPath(), null, new JobID(), FILE_SIZE_THRESHOLD);
        storage.initializeBaseLocationsForCheckpoint();
        CheckpointStorageLocation loc = storage.initializeLocationForCheckpoint(177L);
        Path metadata = flinkLocation(loc).getMetadataFilePath();

        try (CheckpointMetadataOutputStream out = loc.createMetadataOutputStream()) {
            out.write(data);
            out.closeAndFinalizeCheckpoint();
        }

        try (CheckpointMetadataOutputStream second = loc.createMetadataOutputStream()) {
            second.write(new byte[] {1, 2, 3});
            assertThatThrownBy(second::closeAndFinalizeCheckpoint)
                    .isInstanceOf(java.io.IOException.class);
        }
        try (FSDataInputStream in = metadata.getFileSystem().open(metadata)) {
            assertThat(in.readAllBytes()).isEqualTo(data);
        }
    }

    // ------------------------------------------------------------------------
    //  Utilities
    // ------------------------------------------------------------------------

    private static FsCheckpointStorageLocation flinkLocation(CheckpointStorageLocation location) {
        return location instanceof JobManagerLocation
                ? ((JobManagerLocation) location).flinkLocation()
                : (FsCheckpointStorageLocation) location;
    }

    private void assertParent(Path parent, Path child) {
        Path path = new Path(parent, child.getName());
        assertThat(child).isEqualTo(path);
    }
}
