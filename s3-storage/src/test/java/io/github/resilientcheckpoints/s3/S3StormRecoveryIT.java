package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorage;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import io.github.resilientcheckpoints.testing.SpillFiles;
import io.github.resilientcheckpoints.upload.UploadThrottle;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.MultipartUpload;

/**
 * A storm and the calm after it. A job with large state (each subtask's snapshot is a pipelined
 * multipart upload) checkpoints to S3 through a proxy slowed down so far that every checkpoint
 * times out: checkpoints are aborted and their streams closed mid-upload, and then the job is
 * cancelled while parts are in flight. Then the store heals, and a new job on the same TaskManager
 * must checkpoint again within a few intervals: no upload permit was lost on the way (lost permits
 * make every later upload wait until its deadline), no multipart upload is left pending on the
 * server, and no spill file is left on local disk.
 */
class S3StormRecoveryIT {

    static final String BUCKET = "storm";

    /** 400 keys x 32 KiB: each of the two subtasks snapshots 6.4 MB, more than one 5 MB part. */
    static final int PAYLOAD = 32 * 1024;

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @TempDir Path spill;

    private static ProxiedS3 s3;
    private static FaultProxy proxy;
    private static S3Client sdk;

    @BeforeAll
    static void start() throws Exception {
        s3 = new ProxiedS3(BUCKET);
        proxy = s3.proxy;
        sdk = s3.server.client();
        FlinkS3.initialize(FlinkS3.config(proxy.endpoint()));
    }

    @AfterAll
    static void stop() throws Exception {
        if (sdk != null) {
            sdk.close();
        }
        if (s3 != null) {
            s3.close();
        }
    }

    private Configuration config(String dir) {
        Configuration conf = s3.jobConfig(dir, spill);
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(20));
        // Few permits: a handful of lost ones would stall every later upload.
        conf.set(ResilientCheckpointOptions.THROTTLE_MAX_CONCURRENT_UPLOADS, 3);
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofSeconds(3));
        // Timed-out checkpoints are the point here: they must not fail the job.
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, Integer.MAX_VALUE);
        return conf;
    }

    @Test
    void afterAStormOfAbortedCheckpointsAndCancelledUploadsCheckpointsCompleteAgainAndNothingIsLeft(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration stormy = config("job-storm");
        UploadThrottle throttle =
                ResilientCheckpointStorage.fromConfig(stormy, getClass().getClassLoader())
                        .throttle();
        try {
            // The storm: 1 MB/s and 100 ms per request; a 6.4 MB snapshot cannot finish in 3 s.
            proxy.bytesPerSecond = 1 << 20;
            proxy.latencyMillis = 100;
            CountingJob.resetCounters();
            JobID storm = CountingJob.start(cluster, stormy, PAYLOAD);
            await(
                    "two checkpoints aborted by their timeout",
                    Duration.ofSeconds(40),
                    () ->
                            CountingJob.stats(cluster, storm)
                                            .getCounts()
                                            .getNumberOfFailedCheckpoints()
                                    >= 2);
            await(
                    "parts of a snapshot in flight",
                    Duration.ofSeconds(20),
                    () -> !pendingUploads().isEmpty());
            CountingJob.cancel(cluster, storm); // tasks cancelled mid-upload
            // Not asserted: that no checkpoint completed in the storm. Each key's 32 KiB enter
            // the state with its first record, so a barrier that comes soon after the source
            // starts (as on a busy machine) snapshots a fraction of the 6.4 MB, which can fit in
            // 3 s even at 1 MB/s: a loaded run saw checkpoint 1 complete and 2 and 3 abort. The
            // aborted checkpoints and the parts in flight at the cancel, awaited above, are what
            // the storm is for.

            // The calm: the same TaskManager, its throttle and spill directory, a healthy store.
            proxy.bytesPerSecond = 0;
            proxy.latencyMillis = 0;
            CountingJob.resetCounters();
            JobID calm = CountingJob.start(cluster, config("job-calm"), PAYLOAD);
            await(
                    "three checkpoints completed after the store healed",
                    Duration.ofSeconds(30),
                    () ->
                            CountingJob.stats(cluster, calm)
                                            .getCounts()
                                            .getNumberOfCompletedCheckpoints()
                                    >= 3);
            CountingJob.cancel(cluster, calm);
            assertThat(CountingJob.MISMATCHES.get()).isZero();

            // Abandoned attempts give their permit back when their thread leaves the store, and
            // cleanup runs in the background: give both a moment.
            waitUntil(
                    Duration.ofSeconds(20),
                    () ->
                            throttle.inFlight() == 0
                                    && pendingUploads().isEmpty()
                                    && spillFiles().isEmpty());
            assertThat(throttle.inFlight()).as("upload permits in flight").isZero();
            assertThat(pendingUploads()).as("multipart uploads left pending").isEmpty();
            assertThat(spillFiles()).as("spill files left").isEmpty();
        } finally {
            proxy.bytesPerSecond = 0;
            proxy.latencyMillis = 0;
        }
    }

    private List<MultipartUpload> pendingUploads() {
        return sdk.listMultipartUploads(b -> b.bucket(BUCKET)).uploads();
    }

    private List<Path> spillFiles() throws IOException {
        return SpillFiles.under(spill);
    }

    private interface Check {
        boolean holds() throws Exception;
    }

    /** Waits for {@code check}, failing with {@code what} when it never holds. */
    private static void await(String what, Duration timeout, Check check) throws Exception {
        if (!waitUntil(timeout, check)) {
            throw new AssertionError(
                    "timed out after " + timeout.toSeconds() + " s waiting for: " + what);
        }
    }

    private static boolean waitUntil(Duration timeout, Check check) throws Exception {
        long end = System.nanoTime() + timeout.toNanos();
        while (!check.holds()) {
            if (System.nanoTime() > end) {
                return false;
            }
            Thread.sleep(50);
        }
        return true;
    }
}
