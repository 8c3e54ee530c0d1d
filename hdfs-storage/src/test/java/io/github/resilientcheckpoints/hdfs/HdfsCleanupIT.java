package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.cleanup.CleanupSettings;
import io.github.resilientcheckpoints.cleanup.MetadataReferences;
import io.github.resilientcheckpoints.cleanup.OfflineCleanup;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cleanup given {@code hdfs:///path} (no authority: the default file system's name node) for a job
 * that checkpointed to {@code hdfs://host:port/path}: the same files, the orphan swept, every
 * referenced file kept, and the newest checkpoint restores exactly.
 */
class HdfsCleanupIT {

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @TempDir static java.nio.file.Path base;
    @TempDir java.nio.file.Path spill;

    private static MiniDfs dfs;

    @BeforeAll
    static void startHdfs() throws Exception {
        dfs = new MiniDfs(base, 1);
    }

    @AfterAll
    static void stopHdfs() throws Exception {
        FileSystem.initialize(new Configuration(), null);
        if (dfs != null) {
            dfs.close();
        }
    }

    @Test
    void aRootWithoutAuthorityNamesTheSameFiles(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(),
                        "rocksdb",
                        dfs.uri() + "/flink/ckpt");
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        CountingJob.resetCounters();
        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitChecked(cluster, job, 2L * CountingJob.KEYS);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 4);
        CountingJob.cancel(cluster, job);
        // Read after the cancel: a checkpoint completing meanwhile would subsume an earlier pick.
        String latest = CountingJob.latestCheckpointPath(cluster, job);
        Set<String> referenced =
                MetadataReferences.read(new Path(latest), getClass().getClassLoader());
        assertThat(referenced).anyMatch(k -> k.contains("/" + job.toHexString() + "/shared/"));

        DistributedFileSystem hdfs = dfs.fs();
        org.apache.hadoop.fs.Path orphan =
                new org.apache.hadoop.fs.Path(
                        "/flink/ckpt/" + job.toHexString() + "/shared/planted-orphan");
        try (FSDataOutputStream out = hdfs.create(orphan)) {
            out.write(new byte[] {7});
        }
        long twoDaysAgo = System.currentTimeMillis() - Duration.ofDays(2).toMillis();
        RemoteIterator<LocatedFileStatus> files =
                hdfs.listFiles(new org.apache.hadoop.fs.Path("/flink/ckpt"), true);
        while (files.hasNext()) {
            hdfs.setTimes(files.next().getPath(), twoDaysAgo, -1);
        }

        // The operator's view: hdfs:/// and the default file system from the Hadoop configuration.
        Configuration operator = new Configuration();
        operator.setString("flink.hadoop.fs.defaultFS", dfs.uri().toString());
        FileSystem.initialize(operator, null);
        try (CheckpointStore store =
                CheckpointStores.forRoot(URI.create("hdfs:///flink/ckpt"), operator)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            OfflineCleanup.Report report =
                    OfflineCleanup.run(
                            OfflineCleanup.Request.dryRun(
                                            "hdfs:///flink/ckpt",
                                            CleanupSettings.defaultGrace(
                                                    operator.get(
                                                            CheckpointingOptions
                                                                    .CHECKPOINTING_TIMEOUT)))
                                    .executing(true),
                            store,
                            System.currentTimeMillis(),
                            new PrintStream(out, true, StandardCharsets.UTF_8));
            String printed = out.toString(StandardCharsets.UTF_8);
            assertThat(report.complete()).as(printed).isTrue();
            assertThat(printed).contains("planted-orphan");
            for (String key : referenced) {
                assertThat(printed).doesNotContain(URI.create(key).getPath());
            }
        }
        assertThat(hdfs.exists(orphan)).isFalse();
        for (String key : referenced) {
            assertThat(hdfs.exists(new org.apache.hadoop.fs.Path(URI.create(key).getPath())))
                    .as(key)
                    .isTrue();
        }
        CountingJob.verifyRestore(cluster, conf, latest, CountingJob.PAYLOAD_BYTES);
    }
}
