package io.github.resilientcheckpoints.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.LifecycleCluster;
import io.github.resilientcheckpoints.testing.LifecycleCluster.Scheduler;
import io.github.resilientcheckpoints.testing.OutageFileSystem;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.util.ExceptionUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ending a job while the JobManager's store calls are stuck in retries (issue 22). Flink writes
 * {@code _metadata} inside the checkpoint coordinator's lock, and cancelling or stopping a job
 * needs that lock on the JobMaster's main thread: however long the storage retries a {@code
 * _metadata} write, a cancel must end the job within {@link #CANCEL_BOUND}. The checkpoint timeout
 * is 10 min and the retry policy allows 1000 attempts, so left alone the storage would retry for
 * minutes (until 0.9 x the timeout).
 *
 * <p>Each test waits at most {@link #WAIT} for the job to end; should it not, the faults are
 * switched off so that the job can end, and the test fails naming both times.
 */
class CancelDuringStoreFaultsIT {

    /** How long a wait for the job to reach a point may take. */
    static final Duration AWAIT = Duration.ofSeconds(60);

    /** The product's bound: a cancel ends the job within this, whatever the store does. */
    static final Duration CANCEL_BOUND = Duration.ofSeconds(10);

    /**
     * A stop-with-savepoint may meet two bounded {@code _metadata} writes in turn (the periodic
     * checkpoint in progress, then the savepoint's own) besides the snapshot itself.
     */
    static final Duration STOP_BOUND = Duration.ofSeconds(30);

    static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir Path checkpoints;
    @TempDir Path savepoints;
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

    private Configuration config() {
        Configuration conf = OutageFileSystem.jobConfig(checkpoints, spill);
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(10));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 1000);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(20));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(500));
        // Flink restarts a job whose stop-with-savepoint failed; without a restart strategy that
        // restart would end it.
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 100);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(200));
        return conf;
    }

    /** Starts the job on a cluster of its own and waits for checkpoints and records. */
    private JobID startJob(Configuration conf) throws Exception {
        cluster = LifecycleCluster.start(Scheduler.DEFAULT);
        return cluster.startCountingJob(conf);
    }

    @Test
    void cancelWhileMetadataWritesAreRetriedEndsTheJobWithinTheBound() throws Exception {
        Configuration conf = config();
        JobID job = startJob(conf);
        long faultsBefore = OutageFileSystem.METADATA_FAULTS.get();
        OutageFileSystem.metadataDown = true;
        cluster.awaitWhileRunning(
                job,
                () -> OutageFileSystem.METADATA_FAULTS.get() > faultsBefore,
                "a _metadata write to fail",
                AWAIT);

        Duration took = cancelAndMeasure(job, "while a _metadata write was being retried");

        assertThat(cluster.status(job)).isEqualTo(JobStatus.CANCELED);
        assertThat(took)
                .as("time from cancel to CANCELED while _metadata was being retried")
                .isLessThan(CANCEL_BOUND);
        OutageFileSystem.reset();
        restoreLatest(job, conf);
    }

    @Test
    void cancelWhileCreatingACheckpointDirectoryHangsEndsTheJobWithinTheBound() throws Exception {
        Configuration conf = config();
        JobID job = startJob(conf);
        long heldBefore = OutageFileSystem.HELD_DIRECTORIES.get();
        OutageFileSystem.directoryGate = new CountDownLatch(1);
        cluster.awaitWhileRunning(
                job,
                () -> OutageFileSystem.HELD_DIRECTORIES.get() > heldBefore,
                "a checkpoint directory creation to hang",
                AWAIT);

        Duration took = cancelAndMeasure(job, "while a checkpoint directory creation hung");

        assertThat(cluster.status(job)).isEqualTo(JobStatus.CANCELED);
        assertThat(took)
                .as("time from cancel to CANCELED while a directory creation hung")
                .isLessThan(CANCEL_BOUND);
        OutageFileSystem.reset();
        restoreLatest(job, conf);
    }

    @Test
    void stopWithSavepointWhileMetadataWritesFailEndsInBoundedTime() throws Exception {
        Configuration conf = config();
        JobID job = startJob(conf);
        MiniCluster mini = cluster.cluster();
        long faultsBefore = OutageFileSystem.METADATA_FAULTS.get();
        OutageFileSystem.metadataDown = true;
        cluster.awaitWhileRunning(
                job,
                () -> OutageFileSystem.METADATA_FAULTS.get() > faultsBefore,
                "a _metadata write to fail",
                AWAIT);

        long start = System.nanoTime();
        CompletableFuture<String> stop =
                mini.stopWithSavepoint(
                        job,
                        OutageFileSystem.uri(savepoints),
                        false,
                        SavepointFormatType.CANONICAL);
        String savepoint = null;
        Throwable failure = null;
        try {
            savepoint = stop.get(WAIT.toMillis() + 15_000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            failure = e.getCause();
        } catch (TimeoutException e) {
            long waited = millisSince(start);
            OutageFileSystem.reset();
            long healed = System.nanoTime();
            String outcome;
            try {
                stop.get(120, TimeUnit.SECONDS);
                outcome = "it completed " + millisSince(healed) + " ms after the faults stopped";
            } catch (ExecutionException failed) {
                outcome =
                        "it failed "
                                + millisSince(healed)
                                + " ms after the faults stopped: "
                                + failed.getCause();
            } catch (TimeoutException again) {
                outcome = "it had not ended 120 s after the faults stopped";
            }
            throw new AssertionError(
                    "stop-with-savepoint while _metadata writes failed did not end within "
                            + waited
                            + " ms; "
                            + outcome
                            + "; job "
                            + cluster.status(job));
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        System.out.printf(
                "stop-with-savepoint while _metadata writes failed ended in %d ms: %s%n",
                took.toMillis(), failure == null ? savepoint : failure.toString());
        assertThat(took).as("time until the stop-with-savepoint ended").isLessThan(STOP_BOUND);

        if (failure != null) {
            assertThat(ExceptionUtils.stringifyException(failure))
                    .as("the stop's failure names the file that could not be written")
                    .contains("_metadata");
            // A failed stop-with-savepoint makes Flink restart the job (its tasks may already have
            // stopped at the savepoint barrier): it runs again, never ends.
            cluster.awaitWhileRunning(
                    job,
                    () -> {
                        try {
                            return cluster.status(job) == JobStatus.RUNNING;
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    },
                    "the job to run again after the failed stop",
                    AWAIT);
            OutageFileSystem.reset();
            CountingJob.awaitCompletedCheckpoints(mini, job, cluster.completedCheckpoints(job) + 1);
            restoreLatest(job, conf);
        } else {
            OutageFileSystem.reset();
            cluster.awaitEnd(job, Duration.ofSeconds(30));
            assertThat(cluster.status(job)).isEqualTo(JobStatus.FINISHED);
            assertThat(CountingJob.MISMATCHES.get()).isZero();
            CountingJob.verifyRestore(mini, conf, savepoint, CountingJob.PAYLOAD_BYTES);
        }
    }

    /**
     * Cancels the job and returns the time until it ended; fails, with the times, if it did not end
     * within {@link #WAIT}.
     */
    private Duration cancelAndMeasure(JobID job, String during) throws Exception {
        long start = System.nanoTime();
        // Answered by the JobMaster's main thread, which the cancel itself may keep busy: only
        // the end of the job is awaited.
        cluster.cluster().cancelJob(job);
        try {
            cluster.awaitEnd(job, WAIT);
        } catch (TimeoutException e) {
            long waited = millisSince(start);
            OutageFileSystem.reset();
            long healed = System.nanoTime();
            String outcome;
            try {
                cluster.awaitEnd(job, Duration.ofSeconds(120));
                outcome =
                        "it ended ("
                                + cluster.status(job)
                                + ") "
                                + millisSince(healed)
                                + " ms after the faults stopped";
            } catch (TimeoutException again) {
                outcome = "it had not ended 120 s after the faults stopped";
            }
            throw new AssertionError(
                    "cancel "
                            + during
                            + " did not end the job within "
                            + waited
                            + " ms; "
                            + outcome);
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        System.out.printf("cancel %s ended the job in %d ms%n", during, took.toMillis());
        return took;
    }

    /** Restores the job's latest checkpoint and checks every key's state. */
    private void restoreLatest(JobID job, Configuration conf) throws Exception {
        MiniCluster mini = cluster.cluster();
        if (!cluster.status(job).isGloballyTerminalState()) {
            CountingJob.cancel(mini, job);
        }
        String checkpoint = CountingJob.latestCheckpointPath(mini, job);
        assertThat(CountingJob.MISMATCHES.get()).isZero();
        CountingJob.verifyRestore(mini, conf, checkpoint, CountingJob.PAYLOAD_BYTES);
    }

    private static long millisSince(long start) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    }
}
