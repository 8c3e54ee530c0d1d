package io.github.resilientcheckpoints.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.LiveTree;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.ExceptionUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JobManager probes the checkpoint root once when it sets up the job's checkpoint storage: a
 * root nothing can be written to refuses the job at submission with the store's own message,
 * instead of a job that runs and fails every checkpoint.
 */
public class SubmissionProbeIT {

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @TempDir Path work;

    @Test
    void aRootNothingCanBeWrittenToRefusesTheJobWithTheStoresMessage(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        // Root in CI, so permission bits do not stop writes: a regular file where a directory must
        // be
        // stops them for everybody.
        Path blocker = Files.writeString(work.resolve("not-a-directory"), "x");
        String root = blocker.resolve("checkpoints").toUri().toString();

        JobResult result = submitAndAwaitEnd(cluster, config(root));

        assertThat(result.isSuccess()).isFalse();
        String failure =
                ExceptionUtils.stringifyException(
                        result.getSerializedThrowable()
                                .orElseThrow()
                                .deserializeError(getClass().getClassLoader()));
        assertThat(failure)
                .contains("refused")
                .contains(blocker.toString())
                .contains(ResilientCheckpointOptions.PROBE_AT_SUBMISSION.key());
        assertThat(Files.isRegularFile(blocker)).isTrue();
    }

    @Test
    void aWritableRootAcceptsTheJobAndTheProbeLeavesNothingBehind(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Path checkpoints = Files.createDirectories(work.resolve("checkpoints"));
        Configuration conf = config(checkpoints.toUri().toString());

        CountingJob.resetCounters();
        JobID job = CountingJob.start(cluster, conf);
        try {
            CountingJob.awaitCompletedCheckpoints(cluster, job, 1);
        } finally {
            CountingJob.cancel(cluster, job);
        }
        // Flink may still be discarding checkpoints of the canceled job.
        assertThat(LiveTree.files(checkpoints, p -> p.getFileName().toString().contains("probe")))
                .as("probe files are deleted")
                .isEmpty();
    }

    private Configuration config(String root) throws Exception {
        return jobConfig(root, Files.createDirectories(work.resolve("spill")));
    }

    /**
     * The counting job on this storage, restarting (almost) forever should a failure reach its
     * tasks.
     */
    public static Configuration jobConfig(String root, Path spill) {
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(), "hashmap", root);
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(10));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(50));
        // A failure that reached the tasks would restart the job again and again: the job must end
        // anyway.
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 1000);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
        return conf;
    }

    static JobResult submitAndAwaitEnd(MiniCluster cluster, Configuration conf) throws Exception {
        CountingJob.resetCounters();
        JobID job = CountingJob.start(cluster, conf);
        return cluster.requestJobResult(job).get(60, TimeUnit.SECONDS);
    }
}
