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

import io.github.resilientcheckpoints.storage.ResilientCheckpointStorage;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStorage;
import org.apache.flink.runtime.state.CheckpointStorageAccess;
import org.apache.flink.runtime.state.CheckpointStorageLoader;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;
import org.apache.flink.runtime.state.storage.FileSystemCheckpointStorage;
import org.apache.flink.runtime.state.storage.JobManagerCheckpointStorage;
import org.apache.flink.testutils.junit.utils.TempDirUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Port of Flink's {@code CheckpointStorageLoaderTest} for {@code ResilientCheckpointStorage}: how
 * Flink's {@link CheckpointStorageLoader} builds the storage from a job and a cluster configuration
 * (by factory name) and from a storage object set in code. The tests of Flink's {@code
 * JobManagerCheckpointStorage} and of the loader alone (unknown class names, high availability
 * defaults) are not about a storage plugin and are not ported.
 */
class CheckpointStorageLoaderContractTest {

    private final Logger log = LoggerFactory.getLogger(CheckpointStorageLoaderContractTest.class);

    private static final String FACTORY = ResilientCheckpointStorageFactory.class.getName();

    @TempDir private java.nio.file.Path tmp;

    private final ClassLoader cl = getClass().getClassLoader();

    private TestStorages storages;

    @BeforeEach
    void startRuntime() throws IOException {
        storages = new TestStorages("loader-port", Files.createTempDirectory(tmp, "spill"));
    }

    @AfterEach
    void closeRuntime() {
        storages.close();
    }

    @Test
    void testLegacyStateBackendTakesPrecedence() throws Exception {
        StateBackend legacy = legacyStateBackend();
        CheckpointStorage storage = storages.storage(storages.config(newFolder()));

        CheckpointStorage configured =
                CheckpointStorageLoader.load(
                        storage, legacy, new Configuration(), new Configuration(), cl, log);

        assertThat(configured)
                .withFailMessage("Legacy state backends should always take precedence")
                .isEqualTo(legacy);
    }

    /**
     * Flink: the very object set in code comes back. Ours may come back configured by the cluster
     * (a copy, as Flink's own {@code ConfigurableCheckpointStorage}s do), so the assertion is on
     * its type and checkpoint path.
     */
    @Test
    void testModernStateBackendDoesNotTakePrecedence() throws Exception {
        StateBackend modern = modernStateBackend();
        Path checkpointDir = newFolder();
        ResilientCheckpointStorage storage = storages.storage(storages.config(checkpointDir));

        CheckpointStorage configured =
                CheckpointStorageLoader.load(
                        storage, modern, new Configuration(), new Configuration(), cl, log);

        assertThat(configured)
                .withFailMessage("Modern state backends should never take precedence")
                .isInstanceOf(ResilientCheckpointStorage.class);
        assertThat(
                        normalized(
                                ((ResilientCheckpointStorage) configured)
                                        .delegate()
                                        .getCheckpointPath()))
                .isEqualTo(normalized(checkpointDir));
    }

    @Test
    void testLoadingFromFactory() throws Exception {
        final Configuration jobConfig = storages.config(newFolder());
        final Configuration clusterConfig = new Configuration();

        jobConfig.set(CheckpointingOptions.CHECKPOINT_STORAGE, FACTORY);
        clusterConfig.set(CheckpointingOptions.CHECKPOINT_STORAGE, "jobmanager");

        CheckpointStorage storage1 =
                CheckpointStorageLoader.load(
                        null, modernStateBackend(), jobConfig, clusterConfig, cl, log);

        assertThat(storage1).isInstanceOf(ResilientCheckpointStorage.class);

        CheckpointStorage storage2 =
                CheckpointStorageLoader.load(
                        null, modernStateBackend(), new Configuration(), clusterConfig, cl, log);

        assertThat(storage2).isInstanceOf(JobManagerCheckpointStorage.class);
    }

    /** Flink's {@code testDefaultCheckpointStorage}, with our factory named in both configs. */
    @Test
    void testJobCheckpointDirectoryOverridesTheCluster() throws Exception {
        final String checkpointDir1 = newFolder().toString();
        final String checkpointDir2 = newFolder().toString();

        final Configuration jobConfig = new Configuration();
        final Configuration clusterConfig = storages.config(new Path(checkpointDir2));
        clusterConfig.set(CheckpointingOptions.CHECKPOINT_STORAGE, FACTORY);
        jobConfig.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpointDir1);

        CheckpointStorage storage2 =
                CheckpointStorageLoader.load(
                        null, modernStateBackend(), jobConfig, clusterConfig, cl, log);

        assertThat(((ResilientCheckpointStorage) storage2).delegate().getCheckpointPath())
                .isEqualTo(new Path(jobConfig.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY)));

        CheckpointStorage storage3 =
                CheckpointStorageLoader.load(
                        null, modernStateBackend(), new Configuration(), clusterConfig, cl, log);

        assertThat(((ResilientCheckpointStorage) storage3).delegate().getCheckpointPath())
                .isEqualTo(new Path(clusterConfig.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY)));
    }

    /** Flink's {@code testLoadingFails}, for the failure that is our factory's own. */
    @Test
    void testLoadingFails() throws Exception {
        final Configuration config = new Configuration();
        config.set(CheckpointingOptions.CHECKPOINT_STORAGE, FACTORY);

        // no checkpoint directory
        assertThatThrownBy(
                        () ->
                                CheckpointStorageLoader.load(
                                        null,
                                        modernStateBackend(),
                                        new Configuration(),
                                        config,
                                        cl,
                                        log))
                .isInstanceOf(IllegalConfigurationException.class);
    }

    /** Flink's {@code testLoadFileSystemCheckpointStorage}, with our factory's name. */
    @Test
    void testLoadResilientCheckpointStorage() throws Exception {
        final String checkpointDir = newFolder().toString();
        final String savepointDir = newFolder().toString();
        final Path expectedCheckpointsPath = new Path(checkpointDir);
        final Path expectedSavepointsPath = new Path(savepointDir);
        final MemorySize threshold = MemorySize.parse("900kb");
        final int minWriteBufferSize = 1024;

        final Configuration config1 = storages.config(expectedCheckpointsPath);
        config1.set(CheckpointingOptions.CHECKPOINT_STORAGE, FACTORY);
        config1.set(CheckpointingOptions.SAVEPOINT_DIRECTORY, savepointDir);
        config1.set(CheckpointingOptions.FS_SMALL_FILE_THRESHOLD, threshold);
        config1.set(CheckpointingOptions.FS_WRITE_BUFFER_SIZE, minWriteBufferSize);

        CheckpointStorage storage1 = CheckpointStorageLoader.fromConfig(config1, cl, null).get();

        assertThat(storage1).isInstanceOf(ResilientCheckpointStorage.class);

        FileSystemCheckpointStorage fs1 = ((ResilientCheckpointStorage) storage1).delegate();

        assertThat(normalized(fs1.getCheckpointPath()))
                .isEqualTo(normalized(expectedCheckpointsPath));
        assertThat(normalized(fs1.getSavepointPath()))
                .isEqualTo(normalized(expectedSavepointsPath));
        assertThat(fs1.getMinFileSizeThreshold()).isEqualTo(threshold.getBytes());
        assertThat(fs1.getWriteBufferSize())
                .isEqualTo(Math.max(threshold.getBytes(), minWriteBufferSize));
    }

    /**
     * Flink's {@code testLoadFileSystemCheckpointStorageMixed}: a storage set in code keeps its own
     * checkpoint directory and sizes, and takes the savepoint directory of the cluster
     * configuration.
     */
    @Test
    void testLoadResilientCheckpointStorageMixed() throws Exception {
        final Path appCheckpointDir = newFolder();
        final String checkpointDir = newFolder().toString();
        final String savepointDir = newFolder().toString();

        final Path expectedSavepointsPath = new Path(savepointDir);

        final int threshold = 1000000;
        final int writeBufferSize = 4000000;

        final ResilientCheckpointStorage storage =
                storages.storage(
                        TestStorages.withStreamSizes(
                                storages.config(appCheckpointDir), writeBufferSize, threshold));

        final Configuration config = new Configuration();
        config.set(CheckpointingOptions.CHECKPOINT_STORAGE, "jobmanager"); // this should not be
        // picked up
        config.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpointDir); // this should not
        // be picked up
        config.set(CheckpointingOptions.SAVEPOINT_DIRECTORY, savepointDir);
        config.set(CheckpointingOptions.FS_SMALL_FILE_THRESHOLD, MemorySize.parse("20")); // this
        // should not be picked up
        config.set(CheckpointingOptions.FS_WRITE_BUFFER_SIZE, 3000000); // this should not be
        // picked up

        final CheckpointStorage loadedStorage1 =
                CheckpointStorageLoader.load(
                        storage, modernStateBackend(), new Configuration(), config, cl, log);

        assertThat(loadedStorage1).isInstanceOf(ResilientCheckpointStorage.class);

        final FileSystemCheckpointStorage fs1 =
                ((ResilientCheckpointStorage) loadedStorage1).delegate();

        assertThat(normalized(fs1.getCheckpointPath())).isEqualTo(normalized(appCheckpointDir));
        assertThat(normalized(fs1.getSavepointPath()))
                .isEqualTo(normalized(expectedSavepointsPath));
        assertThat(fs1.getMinFileSizeThreshold()).isEqualTo(threshold);
        assertThat(fs1.getWriteBufferSize()).isEqualTo(writeBufferSize);
    }

    /**
     * Issue #23, defect: a storage set in code and the savepoint directory set only in the
     * cluster's configuration. A savepoint without a target goes to that directory with Flink's own
     * storage (see {@link #flinkStorageSetInCodeTakesTheClusterSavepointDirectory}); ours fails
     * with "No savepoint location given".
     */
    @Test
    void savepointWithoutTargetGoesToTheClusterSavepointDirectory() throws Exception {
        final Path savepointDir = newFolder();
        final Configuration clusterConfig = new Configuration();
        clusterConfig.set(CheckpointingOptions.SAVEPOINT_DIRECTORY, savepointDir.toString());

        final CheckpointStorage loaded =
                CheckpointStorageLoader.load(
                        storages.storage(storages.config(newFolder())),
                        modernStateBackend(),
                        new Configuration(),
                        clusterConfig,
                        cl,
                        log);

        assertSavepointWithoutTargetUnder(loaded, savepointDir);
    }

    /** The same as above with Flink's own storage: what users get today without ours. */
    @Test
    void flinkStorageSetInCodeTakesTheClusterSavepointDirectory() throws Exception {
        final Path savepointDir = newFolder();
        final Configuration clusterConfig = new Configuration();
        clusterConfig.set(CheckpointingOptions.SAVEPOINT_DIRECTORY, savepointDir.toString());

        final CheckpointStorage loaded =
                CheckpointStorageLoader.load(
                        new FileSystemCheckpointStorage(newFolder()),
                        modernStateBackend(),
                        new Configuration(),
                        clusterConfig,
                        cl,
                        log);

        assertSavepointWithoutTargetUnder(loaded, savepointDir);
    }

    private static void assertSavepointWithoutTargetUnder(CheckpointStorage loaded, Path dir)
            throws Exception {
        CheckpointStorageAccess access = loaded.createCheckpointStorage(new JobID());
        // as CheckpointCoordinator#triggerSavepoint without a target: Flink's
        // "No savepoint location given" when the storage has no savepoint directory
        CheckpointStorageLocation location = access.initializeLocationForSavepoint(1L, null);
        assertThat(access.hasDefaultSavepointLocation()).isTrue();
        Path created =
                location instanceof io.github.resilientcheckpoints.storage.jm.JobManagerLocation
                        ? ((io.github.resilientcheckpoints.storage.jm.JobManagerLocation) location)
                                .flinkLocation()
                                .getCheckpointDirectory()
                        : ((FsCheckpointStorageLocation) location).getCheckpointDirectory();
        assertThat(normalized(created.getParent())).isEqualTo(normalized(dir));
        location.disposeOnFailure();
    }

    // ------------------------------------------------------------------------

    /** Flink's {@code NormalizedPathMatcher}: both sides re-parsed from their string form. */
    private static Path normalized(Path path) {
        return path == null ? null : new Path(path.toString());
    }

    private Path newFolder() throws IOException {
        return new Path(TempDirUtils.newFolder(tmp).toURI());
    }

    /**
     * Flink's test classes {@code ModernStateBackend} and {@code LegacyStateBackend} are package
     * private, and {@code StateBackend}'s methods differ between Flink 1.20 and 2.x: the loader
     * only looks at the types, so proxies stand in for them.
     */
    private static StateBackend modernStateBackend() {
        return (StateBackend)
                Proxy.newProxyInstance(
                        CheckpointStorageLoaderContractTest.class.getClassLoader(),
                        new Class<?>[] {StateBackend.class},
                        (proxy, method, args) ->
                                method.getName().equals("equals")
                                        ? proxy == args[0]
                                        : method.getName().equals("hashCode")
                                                ? System.identityHashCode(proxy)
                                                : null);
    }

    private static StateBackend legacyStateBackend() {
        return (StateBackend)
                Proxy.newProxyInstance(
                        CheckpointStorageLoaderContractTest.class.getClassLoader(),
                        new Class<?>[] {StateBackend.class, CheckpointStorage.class},
                        (proxy, method, args) ->
                                method.getName().equals("equals")
                                        ? proxy == args[0]
                                        : method.getName().equals("hashCode")
                                                ? System.identityHashCode(proxy)
                                                : method.getName().equals("toString")
                                                        ? "LegacyStateBackend"
                                                        : null);
    }
}
