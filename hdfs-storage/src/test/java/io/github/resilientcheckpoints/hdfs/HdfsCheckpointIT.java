package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import io.github.resilientcheckpoints.storage.StorageRuntime;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A real Flink job checkpointing to a real HDFS through the storage, losing a DataNode on the way. */
class HdfsCheckpointIT {

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    @TempDir static java.nio.file.Path base;
    @TempDir java.nio.file.Path spill;

    private static MiniDfs dfs;

    @BeforeAll
    static void startHdfs() throws Exception {
        dfs = new MiniDfs(base, 3);
    }

    @AfterAll
    static void stopHdfs() {
        if (dfs != null) {
            dfs.close();
        }
    }

    @Test
    void hdfsSchemeGetsTheHdfsAdapter() throws Exception {
        try (CheckpointStore store = CheckpointStores.forRoot(URI.create(dfs.uri() + "/x"), new Configuration())) {
            assertThat(store).isInstanceOf(HdfsStore.class);
        }
    }

    @Test
    void checkpointsSurviveADataNodeLossAndRestoreExactly(@InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration conf = CountingJob.config(ResilientCheckpointStorageFactory.class.getName(), "rocksdb",
                dfs.uri() + "/flink/checkpoints");
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        long uploadsBefore = StorageRuntime.shared()
                .metrics().uploadsSucceeded();

        CountingJob.resetCounters();
        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 2);
        dfs.cluster.stopDataNode(0);
        long completed = CountingJob.stats(cluster, job).getCounts().getNumberOfCompletedCheckpoints();
        CountingJob.awaitCompletedCheckpoints(cluster, job, completed + 4);
        assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
        String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
        assertThat(checkpoint).startsWith(dfs.uri().toString());
        CountingJob.cancel(cluster, job);
        assertThat(CountingJob.MISMATCHES.get()).isZero();
        assertThat(StorageRuntime.shared()
                .metrics().uploadsSucceeded()).isGreaterThan(uploadsBefore);

        CountingJob.verifyRestore(cluster, conf, checkpoint, CountingJob.PAYLOAD_BYTES);
    }
}
