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

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import org.apache.flink.api.common.JobID;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.jobgraph.JobVertexID;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.CheckpointStreamWithResultProvider;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.LocalSnapshotDirectoryProvider;
import org.apache.flink.runtime.state.LocalSnapshotDirectoryProviderImpl;
import org.apache.flink.runtime.state.SnapshotResult;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.testutils.junit.utils.TempDirUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Port of Flink's {@code CheckpointStreamWithResultProviderTest} (how state backends wrap a
 * checkpoint stream, with and without a local-recovery copy), with the primary stream factory of
 * {@code ResilientCheckpointStorage} in place of Flink's {@code MemCheckpointStreamFactory}.
 */
class CheckpointStreamWithResultProviderContractTest {

    @TempDir private java.nio.file.Path temporaryFolder;

    private TestStorages storages;

    @BeforeEach
    void startRuntime() throws IOException {
        storages =
                new TestStorages(
                        "result-provider-port",
                        Files.createTempDirectory(temporaryFolder, "spill"));
    }

    @AfterEach
    void closeRuntime() {
        storages.close();
    }

    @Test
    void testFactory() throws Exception {
        CheckpointStreamFactory primaryFactory = createCheckpointStreamFactory();
        try (CheckpointStreamWithResultProvider primaryOnly =
                CheckpointStreamWithResultProvider.createSimpleStream(
                        CheckpointedStateScope.EXCLUSIVE, primaryFactory)) {

            assertThat(primaryOnly)
                    .isInstanceOf(CheckpointStreamWithResultProvider.PrimaryStreamOnly.class);
        }

        LocalSnapshotDirectoryProvider directoryProvider = createLocalRecoveryDirectoryProvider();
        try (CheckpointStreamWithResultProvider primaryAndSecondary =
                CheckpointStreamWithResultProvider.createDuplicatingStream(
                        42L, CheckpointedStateScope.EXCLUSIVE, primaryFactory, directoryProvider)) {

            assertThat(primaryAndSecondary)
                    .isInstanceOf(
                            CheckpointStreamWithResultProvider.PrimaryAndSecondaryStream.class);
        }
    }

    @Test
    void testCloseAndFinalizeCheckpointStreamResultPrimaryOnly() throws Exception {
        CheckpointStreamFactory primaryFactory = createCheckpointStreamFactory();

        CheckpointStreamWithResultProvider resultProvider =
                CheckpointStreamWithResultProvider.createSimpleStream(
                        CheckpointedStateScope.EXCLUSIVE, primaryFactory);

        SnapshotResult<StreamStateHandle> result = writeCheckpointTestData(resultProvider);

        assertThat(result.getJobManagerOwnedSnapshot()).isNotNull();
        assertThat(result.getTaskLocalSnapshot()).isNull();

        try (FSDataInputStream inputStream =
                result.getJobManagerOwnedSnapshot().openInputStream()) {
            assertThat(inputStream.read()).isEqualTo(0x42);
            assertThat(inputStream.read()).isEqualTo(-1);
        }
    }

    @Test
    void testCloseAndFinalizeCheckpointStreamResultPrimaryAndSecondary() throws Exception {
        CheckpointStreamFactory primaryFactory = createCheckpointStreamFactory();
        LocalSnapshotDirectoryProvider directoryProvider = createLocalRecoveryDirectoryProvider();

        CheckpointStreamWithResultProvider resultProvider =
                CheckpointStreamWithResultProvider.createDuplicatingStream(
                        42L, CheckpointedStateScope.EXCLUSIVE, primaryFactory, directoryProvider);

        SnapshotResult<StreamStateHandle> result = writeCheckpointTestData(resultProvider);

        assertThat(result.getJobManagerOwnedSnapshot()).isNotNull();
        assertThat(result.getTaskLocalSnapshot()).isNotNull();

        try (FSDataInputStream inputStream =
                result.getJobManagerOwnedSnapshot().openInputStream()) {
            assertThat(inputStream.read()).isEqualTo(0x42);
            assertThat(inputStream.read()).isEqualTo(-1);
        }

        try (FSDataInputStream inputStream = result.getTaskLocalSnapshot().openInputStream()) {
            assertThat(inputStream.read()).isEqualTo(0x42);
            assertThat(inputStream.read()).isEqualTo(-1);
        }
    }

    @Test
    void testCompletedAndCloseStateHandling() throws Exception {
        CheckpointStreamFactory primaryFactory = createCheckpointStreamFactory();

        testCloseBeforeComplete(
                new CheckpointStreamWithResultProvider.PrimaryStreamOnly(
                        primaryFactory.createCheckpointStateOutputStream(
                                CheckpointedStateScope.EXCLUSIVE)));
        testCompleteBeforeClose(
                new CheckpointStreamWithResultProvider.PrimaryStreamOnly(
                        primaryFactory.createCheckpointStateOutputStream(
                                CheckpointedStateScope.EXCLUSIVE)));

        testCloseBeforeComplete(
                new CheckpointStreamWithResultProvider.PrimaryAndSecondaryStream(
                        primaryFactory.createCheckpointStateOutputStream(
                                CheckpointedStateScope.EXCLUSIVE),
                        primaryFactory.createCheckpointStateOutputStream(
                                CheckpointedStateScope.EXCLUSIVE)));
        testCompleteBeforeClose(
                new CheckpointStreamWithResultProvider.PrimaryAndSecondaryStream(
                        primaryFactory.createCheckpointStateOutputStream(
                                CheckpointedStateScope.EXCLUSIVE),
                        primaryFactory.createCheckpointStateOutputStream(
                                CheckpointedStateScope.EXCLUSIVE)));
    }

    /**
     * Flink checks with {@code MethodForwardingTestUtil} (a Mockito spy) that {@code close()} is
     * forwarded to the wrapped streams. Without a spy: after the provider's {@code close()}, each
     * of our streams is closed, so its {@code closeAndGetHandle()} fails.
     */
    @Test
    void testCloseMethodForwarding() throws Exception {
        CheckpointStreamFactory streamFactory = createCheckpointStreamFactory();

        CheckpointStateOutputStream only =
                streamFactory.createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        new CheckpointStreamWithResultProvider.PrimaryStreamOnly(only).close();
        assertThatThrownBy(only::closeAndGetHandle).isInstanceOf(IOException.class);

        CheckpointStateOutputStream primary =
                streamFactory.createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        CheckpointStateOutputStream secondary =
                streamFactory.createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        new CheckpointStreamWithResultProvider.PrimaryAndSecondaryStream(primary, secondary)
                .close();
        assertThatThrownBy(primary::closeAndGetHandle).isInstanceOf(IOException.class);
        assertThatThrownBy(secondary::closeAndGetHandle).isInstanceOf(IOException.class);
    }

    private SnapshotResult<StreamStateHandle> writeCheckpointTestData(
            CheckpointStreamWithResultProvider resultProvider) throws IOException {

        CheckpointStateOutputStream checkpointOutputStream =
                resultProvider.getCheckpointOutputStream();
        checkpointOutputStream.write(0x42);
        return resultProvider.closeAndFinalizeCheckpointStreamResult();
    }

    private CheckpointStreamFactory createCheckpointStreamFactory() throws IOException {
        Path root = Path.fromLocalFile(TempDirUtils.newFolder(temporaryFolder));
        return storages.checkpoint(storages.config(root), 1L).factory();
    }

    private void testCloseBeforeComplete(CheckpointStreamWithResultProvider resultProvider)
            throws IOException {
        resultProvider.getCheckpointOutputStream().write(0x42);
        resultProvider.close();
        assertThatThrownBy(resultProvider::closeAndFinalizeCheckpointStreamResult)
                .isInstanceOf(IOException.class);
    }

    private void testCompleteBeforeClose(CheckpointStreamWithResultProvider resultProvider)
            throws IOException {
        resultProvider.getCheckpointOutputStream().write(0x42);
        assertThat(resultProvider.closeAndFinalizeCheckpointStreamResult()).isNotNull();
        resultProvider.close();
    }

    private LocalSnapshotDirectoryProvider createLocalRecoveryDirectoryProvider()
            throws IOException {
        File localStateDir = TempDirUtils.newFolder(temporaryFolder);
        JobID jobID = new JobID();
        JobVertexID jobVertexID = new JobVertexID();
        int subtaskIdx = 0;
        return new LocalSnapshotDirectoryProviderImpl(
                localStateDir, jobID, jobVertexID, subtaskIdx);
    }
}
