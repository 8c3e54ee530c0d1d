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
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A job restarts while its store is down (issue 22): the store takes writes when the job is
 * submitted, then refuses every write under the checkpoint root (state files, {@code _metadata},
 * directories, probe files) for at least 10 s, and meanwhile the job's only TaskManager is lost, so
 * every task fails and the job restarts (fixed delay) from the checkpoint taken before the outage.
 * The job must come back and keep RUNNING through the outage, checkpoint again once the store is
 * back, and its last checkpoint must restore every key exactly.
 *
 * <p>The default scheduler restarts the tasks of the same ExecutionGraph. The adaptive scheduler
 * builds a new ExecutionGraph on every restart, and with it a new checkpoint coordinator, which
 * calls the storage's {@code initializeBaseLocationsForCheckpoint} again while the store is down.
 */
class RestartDuringStoreOutageIT {

    /** How long a wait for the job to reach a point may take. */
    static final Duration AWAIT = Duration.ofSeconds(60);

    /** The least time the store stays down. */
    static final Duration OUTAGE = Duration.ofSeconds(10);

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

    static Configuration config(Path checkpoints, Path spill) {
        Configuration conf = OutageFileSystem.jobConfig(checkpoints, spill);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 10);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(500));
        return conf;
    }

    @ParameterizedTest(name = "{0} scheduler")
    @EnumSource(Scheduler.class)
    void jobRestartedWhileTheStoreIsDownKeepsRunningAndRestoresExactly(Scheduler scheduler)
            throws Exception {
        cluster = LifecycleCluster.start(scheduler);
        MiniCluster mini = cluster.cluster();
        Configuration conf = config(checkpoints, spill);
        JobID job = CountingJob.start(mini, conf);
        CountingJob.awaitCompletedCheckpoints(mini, job, 2);
        CountingJob.awaitChecked(mini, job, 2L * KEYS);

        long faultsBefore = OutageFileSystem.WRITE_FAULTS.get();
        OutageFileSystem.writesDown = true;
        long outageStart = System.nanoTime();
        cluster.awaitWhileRunning(
                job,
                () -> OutageFileSystem.WRITE_FAULTS.get() > faultsBefore,
                "the outage to refuse a write",
                AWAIT);

        // Every task fails with its TaskManager; the job restarts while the store is down.
        CountingJob.RESTORED_KEYS.set(0);
        mini.terminateTaskManager(0).get(30, TimeUnit.SECONDS);
        mini.startTaskManager();
        cluster.awaitWhileRunning(
                job,
                () -> CountingJob.RESTORED_KEYS.get() >= KEYS,
                "the restarted job to process every key with its restored state",
                AWAIT);

        // The store stays down a while longer; the job must not end meanwhile.
        while (System.nanoTime() - outageStart < OUTAGE.toNanos()) {
            cluster.failIfEnded(job, cluster.status(job), "while the store was down");
            Thread.sleep(100);
        }
        OutageFileSystem.writesDown = false;
        long completedAtHeal = cluster.completedCheckpoints(job);
        System.out.printf(
                "%s scheduler: store down %d ms, %d writes refused, %d checkpoints completed at heal%n",
                scheduler,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - outageStart),
                OutageFileSystem.WRITE_FAULTS.get() - faultsBefore,
                completedAtHeal);

        CountingJob.awaitCompletedCheckpoints(mini, job, completedAtHeal + 2);
        assertThat(cluster.status(job)).isEqualTo(JobStatus.RUNNING);
        cluster.cancelAndVerifyLatest(job, conf, "across the restart");
    }
}
