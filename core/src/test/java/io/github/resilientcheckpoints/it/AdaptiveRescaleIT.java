package io.github.resilientcheckpoints.it;

import static io.github.resilientcheckpoints.testing.CountingJob.KEYS;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.LifecycleCluster;
import io.github.resilientcheckpoints.testing.LifecycleCluster.Scheduler;
import io.github.resilientcheckpoints.testing.OutageFileSystem;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.jobgraph.JobVertexID;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rescaling under the adaptive scheduler (issue 22): the keyed operator of the counting job runs at
 * parallelism 2 on a TaskManager with 4 slots, and is rescaled through the REST API an operator or
 * autoscaler uses. Each rescale rebuilds the ExecutionGraph and restores the keyed state,
 * redistributed, from the latest checkpoint; the job must checkpoint at the new parallelism, and
 * its last checkpoint must restore every key exactly (at parallelism 2 again). Once with the store
 * healthy (2, 4, 1), once while it refuses every write under the checkpoint root.
 */
class AdaptiveRescaleIT {

    /** The least time the store stays down in the outage case. */
    static final Duration OUTAGE = Duration.ofSeconds(10);

    static final Duration RESCALE_TIMEOUT = Duration.ofSeconds(60);

    @TempDir Path checkpoints;
    @TempDir Path spill;

    private LifecycleCluster cluster;

    @BeforeEach
    void reset() {
        CountingJob.resetCounters();
        OutageFileSystem.reset();
    }

    @AfterEach
    void tearDown() {
        OutageFileSystem.reset();
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void rescaledUpAndDownTheJobCheckpointsAndRestoresExactly() throws Exception {
        cluster = LifecycleCluster.start(Scheduler.ADAPTIVE);
        MiniCluster mini = cluster.cluster();
        Configuration conf = RestartDuringStoreOutageIT.config(checkpoints, spill);
        JobID job = CountingJob.start(mini, conf);
        CountingJob.awaitCompletedCheckpoints(mini, job, 2);
        CountingJob.awaitChecked(mini, job, 2L * KEYS);
        JobVertexID keyed = cluster.vertexAt(job, 2);

        rescale(job, keyed, 4);
        CountingJob.awaitCompletedCheckpoints(mini, job, cluster.completedCheckpoints(job) + 2);
        rescale(job, keyed, 1);
        CountingJob.awaitCompletedCheckpoints(mini, job, cluster.completedCheckpoints(job) + 2);

        cancelAndRestore(job, conf);
    }

    @Test
    void rescaledWhileTheStoreIsDownTheJobKeepsRunningAndRestoresExactly() throws Exception {
        cluster = LifecycleCluster.start(Scheduler.ADAPTIVE);
        MiniCluster mini = cluster.cluster();
        Configuration conf = RestartDuringStoreOutageIT.config(checkpoints, spill);
        JobID job = CountingJob.start(mini, conf);
        CountingJob.awaitCompletedCheckpoints(mini, job, 2);
        CountingJob.awaitChecked(mini, job, 2L * KEYS);
        JobVertexID keyed = cluster.vertexAt(job, 2);

        long faultsBefore = OutageFileSystem.WRITE_FAULTS.get();
        OutageFileSystem.writesDown = true;
        long outageStart = System.nanoTime();
        rescale(job, keyed, 4);
        // The store stays down a while longer; the job must not end meanwhile.
        while (System.nanoTime() - outageStart < OUTAGE.toNanos()) {
            cluster.failIfEnded(job, cluster.status(job), "while the store was down");
            Thread.sleep(100);
        }
        assertThat(OutageFileSystem.WRITE_FAULTS.get() - faultsBefore)
                .as("writes refused during the outage")
                .isPositive();
        OutageFileSystem.writesDown = false;
        long completedAtHeal = cluster.completedCheckpoints(job);
        CountingJob.awaitCompletedCheckpoints(mini, job, completedAtHeal + 2);
        assertThat(cluster.parallelism(job, keyed)).isEqualTo(4);

        cancelAndRestore(job, conf);
    }

    /**
     * Rescales the keyed vertex and waits until the job runs at the new parallelism with every key
     * restored from the checkpoint.
     */
    private void rescale(JobID job, JobVertexID keyed, int parallelism) throws Exception {
        long start = System.nanoTime();
        CountingJob.RESTORED_KEYS.set(0);
        cluster.rescale(job, keyed, parallelism);
        cluster.awaitRunningAt(job, keyed, parallelism, RESCALE_TIMEOUT);
        long end = System.nanoTime() + RESCALE_TIMEOUT.toNanos();
        while (CountingJob.RESTORED_KEYS.get() < KEYS) {
            cluster.failIfEnded(job, cluster.status(job), "after the rescale to " + parallelism);
            if (System.nanoTime() > end) {
                throw new AssertionError(
                        "after the rescale to "
                                + parallelism
                                + " only "
                                + CountingJob.RESTORED_KEYS.get()
                                + " keys came back with state; "
                                + cluster.failureInfo(job));
            }
            Thread.sleep(50);
        }
        System.out.printf(
                "rescaled to %d in %d ms%n",
                parallelism, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    }

    private void cancelAndRestore(JobID job, Configuration conf) throws Exception {
        assertThat(cluster.status(job)).isEqualTo(JobStatus.RUNNING);
        cluster.cancelAndVerifyLatest(job, conf, "across the rescales");
    }
}
