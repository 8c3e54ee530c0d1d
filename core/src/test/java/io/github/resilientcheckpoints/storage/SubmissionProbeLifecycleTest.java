package io.github.resilientcheckpoints.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.testing.FaultyFileSystem;
import io.github.resilientcheckpoints.time.Ticker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JobManager sets up a job's checkpoint storage again on every restart and rescale under the
 * adaptive scheduler and on every JobManager failover. The submission probe is for a submission
 * only: a job that is already running is never refused because the store is in trouble right then.
 * "Store down" here: every file written under the root hangs until the probe's time is up.
 */
class SubmissionProbeLifecycleTest {

    @TempDir Path root;

    private final StorageRuntime jobManager = new StorageRuntime("probe-jm", Ticker.SYSTEM);
    private final StorageRuntime newJobManager = new StorageRuntime("probe-jm-2", Ticker.SYSTEM);

    @AfterEach
    void healAndClose() {
        CountDownLatch gate = FaultyFileSystem.holdStateWrites;
        FaultyFileSystem.holdStateWrites = null;
        if (gate != null) {
            gate.countDown();
        }
        jobManager.close();
        newJobManager.close();
    }

    private ResilientCheckpointStorage storage(StorageRuntime runtime, boolean highAvailability) {
        return storage(runtime, highAvailability, Duration.ofSeconds(1));
    }

    private ResilientCheckpointStorage storage(
            StorageRuntime runtime, boolean highAvailability, Duration probeTimeout) {
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, FaultyFileSystem.uri(root));
        // uploads of checkpoints get 0.9 s (0.9 x this); the probe has its own time
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofSeconds(1));
        conf.set(ResilientCheckpointOptions.PROBE_TIMEOUT, probeTimeout);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(1));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofMillis(5));
        conf.set(ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT, Duration.ofMillis(200));
        if (highAvailability) {
            conf.set(HighAvailabilityOptions.HA_MODE, "zookeeper");
        }
        return new ResilientCheckpointStorageFactory()
                .createFromConfig(conf, getClass().getClassLoader())
                .withRuntime(runtime);
    }

    private static void storeDown() {
        FaultyFileSystem.holdStateWrites = new CountDownLatch(1);
    }

    private static void setUp(ResilientCheckpointStorage storage, JobID job) throws Exception {
        storage.createCheckpointStorage(job).initializeBaseLocationsForCheckpoint();
    }

    @Test
    void restartsAndRescalesWhileTheStoreIsDownAreNeverRefused() throws Exception {
        JobID job = new JobID();
        setUp(storage(jobManager, false), job);

        storeDown();
        for (int rebuild = 0; rebuild < 3; rebuild++) {
            setUp(storage(jobManager, false), job);
        }

        assertThatThrownBy(() -> setUp(storage(jobManager, false), new JobID()))
                .as("a new job on the same store is still refused")
                .hasMessageContaining("Job refused")
                .hasMessageContaining(ResilientCheckpointOptions.PROBE_AT_SUBMISSION.key())
                .as("the probe's own time is named, not the checkpoints' deadline")
                .hasMessageContaining(
                        "within '" + ResilientCheckpointOptions.PROBE_TIMEOUT.key() + "' (1000 ms")
                .hasMessageNotContaining(ResilientCheckpointOptions.DEADLINE_FRACTION.key());
    }

    @Test
    void withHighAvailabilityANewJobManagerRecoveringAJobDoesNotProbeIt() throws Exception {
        JobID job = new JobID();
        setUp(storage(jobManager, true), job);
        assertThat(root.resolve(job.toHexString())).isDirectory();

        storeDown();
        setUp(storage(newJobManager, true), job);

        JobID submitted = new JobID();
        assertThatThrownBy(() -> setUp(storage(newJobManager, true), submitted))
                .as("its directory does not exist yet: a submission, refused")
                .hasMessageContaining("Job refused");
        assertThat(Files.exists(root.resolve(job.toHexString()))).isTrue();
    }

    /**
     * The probe is not a checkpoint: a healthy store slower than the checkpoint's upload budget (a
     * first write on a loaded JobManager, a cold client) is not refused. DiagnoseIT's job with a 40
     * ms checkpoint timeout was refused so on a loaded machine: "gave up after 0 attempt(s)".
     */
    @Test
    void aHealthyStoreSlowerThanTheCheckpointBudgetIsNotRefused() throws Exception {
        JobID job = new JobID();
        CountDownLatch gate = new CountDownLatch(1);
        FaultyFileSystem.holdStateWrites = gate;
        long heldBefore = FaultyFileSystem.HELD_STATE_WRITES.get();
        // the probe's write waits 2 s, over twice the upload budget (0.9 x the 1 s timeout)
        Thread opener =
                new Thread(
                        () -> {
                            try {
                                Thread.sleep(2_000);
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                            gate.countDown();
                        },
                        "probe-gate-opener");
        opener.start();
        try {
            setUp(storage(jobManager, false, Duration.ofSeconds(20)), job);
        } finally {
            gate.countDown();
            opener.interrupt();
            opener.join();
        }
        assertThat(FaultyFileSystem.HELD_STATE_WRITES.get())
                .as("the probe's write waited at the gate")
                .isGreaterThan(heldBefore);
        Path taskOwned = root.resolve(job.toHexString()).resolve("taskowned");
        assertThat(taskOwned).isDirectory();
        try (var left = Files.list(taskOwned)) {
            assertThat(left).as("the probe file was deleted").isEmpty();
        }
    }
}
