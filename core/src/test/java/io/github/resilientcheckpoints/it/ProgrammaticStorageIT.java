package io.github.resilientcheckpoints.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorage;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.LiveTree;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The storage set in code rather than in the configuration: Flink Java-serializes the object into
 * the job graph and every task's configuration, so the storage must survive that.
 */
class ProgrammaticStorageIT {

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @TempDir Path checkpoints;
    @TempDir Path spill;

    @Test
    void storageSetOnTheStreamGraphCompletesCheckpoints(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        Configuration storageConf = new Configuration();
        storageConf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
        storageConf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        ResilientCheckpointStorage storage =
                new ResilientCheckpointStorageFactory()
                        .createFromConfig(storageConf, getClass().getClassLoader());

        Configuration jobConf = new Configuration();
        jobConf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(200));
        jobConf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 0);
        jobConf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
        env.fromSequence(0, Long.MAX_VALUE)
                .keyBy(n -> n % 100)
                .process(new Count())
                .sinkTo(new DiscardingSink<>());
        StreamGraph graph = env.getStreamGraph();
        graph.setCheckpointStorage(storage);

        long uploadsBefore = StorageRuntime.shared().metrics().uploadsSucceeded();
        JobID job = cluster.submitJob(graph.getJobGraph()).get(60, TimeUnit.SECONDS).getJobID();
        try {
            CountingJob.awaitCompletedCheckpoints(cluster, job, 2);
            assertThat(StorageRuntime.shared().metrics().uploadsSucceeded())
                    .as("task state went through our upload path")
                    .isGreaterThan(uploadsBefore);
            // The job runs on and deletes subsumed checkpoints meanwhile.
            assertThat(
                            LiveTree.files(
                                    checkpoints.resolve(job.toString()),
                                    p -> p.getFileName().toString().equals("_metadata")))
                    .as("checkpoints written where the programmatic storage points")
                    .isNotEmpty();
        } finally {
            // Until the job has ended, not only until the cancel was accepted: its tasks still
            // write into the temporary directories JUnit deletes next.
            CountingJob.cancel(cluster, job);
        }
    }

    /** Counts per key and keeps 1 KiB per key: snapshots are far above the inline threshold. */
    private static final class Count extends KeyedProcessFunction<Long, Long, Long> {
        private transient ValueState<Long> count;
        private transient ValueState<byte[]> payload;

        @Override
        public void open(OpenContext openContext) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            payload =
                    getRuntimeContext()
                            .getState(new ValueStateDescriptor<>("payload", byte[].class));
        }

        @Override
        public void processElement(Long n, Context ctx, Collector<Long> out) throws Exception {
            Long c = count.value();
            count.update(c == null ? 1 : c + 1);
            if (c == null) {
                payload.update(new byte[1024]);
            }
            if (n % 1000 == 0) {
                Thread.sleep(1);
            }
        }
    }
}
