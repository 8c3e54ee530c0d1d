package io.github.resilientcheckpoints.s3;

import static io.github.resilientcheckpoints.testing.CountingJob.KEYS;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.LifecycleCluster;
import io.github.resilientcheckpoints.testing.LifecycleCluster.Scheduler;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.checkpoint.AbstractCheckpointStats;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.checkpoint.FailedCheckpointStats;
import org.apache.flink.runtime.jobgraph.JobVertexID;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.scheduler.exceptionhistory.RootExceptionHistoryEntry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An S3 request that is read and never answered ({@link FaultProxy.Shape#NO_ANSWER}) in the phases
 * of a job's life after its first submission (that one is {@link S3MetadataRetryIT}): a restart
 * after the loss of the TaskManager, a rescale under the adaptive scheduler, a stop-with-savepoint
 * and a cancel. Each time one state-file PUT (or UploadPart) and one {@code _metadata} PUT of the
 * phase are left unanswered; the job must not fail, must checkpoint (or stop, or end canceled
 * within {@link #CANCEL_BOUND}) past them, and its last checkpoint (or savepoint) must restore
 * every key exactly.
 *
 * <p>{@code s3.request-timeout} (2 min) and {@code jobmanager.max-blocking} (5 s) keep their
 * defaults: the JobManager cuts an unanswered {@code _metadata} PUT at its attempt's share of the
 * bound and resends it. {@code retry.attempt-timeout} (3 min by default) is set to {@link
 * #ATTEMPT_TIMEOUT}: it is the TaskManager's bound on an unanswered state PUT, and at its default a
 * checkpoint would wait 2 min (the request timeout) for one.
 *
 * <p>Each test has its own S3 server and proxy, its own cluster and its own spill directory. A
 * failure of the job after the phase shows up in its exception history (the job restarts with a
 * fixed delay, so that a failed stop-with-savepoint, which Flink answers with a restart, does not
 * end it), and a failed checkpoint fails the job (no tolerable checkpoint failures).
 */
class S3HungRequestLifecycleIT {

    static final String BUCKET = "hung";

    /** The TaskManager's bound on one upload attempt: an unanswered state PUT is cut after it. */
    static final Duration ATTEMPT_TIMEOUT = Duration.ofSeconds(5);

    /**
     * The product's bound on a cancel, whatever the store does (the README's table of waits on
     * Flink threads), as {@code CancelDuringStoreFaultsIT} holds it for the JobManager's writes.
     */
    static final Duration CANCEL_BOUND = Duration.ofSeconds(10);

    /** Waits for a phase's events; generous, for CI machines with both cores busy. */
    static final Duration WAIT = Duration.ofSeconds(90);

    private static final Pattern CHECKPOINT_DIR = Pattern.compile("chk-(\\d+)");

    @TempDir Path spill;

    private ProxiedS3 s3;
    private FaultProxy proxy;
    private LifecycleCluster cluster;

    @BeforeEach
    void start() throws Exception {
        CountingJob.resetCounters();
        s3 = new ProxiedS3(BUCKET);
        proxy = s3.proxy;
        FlinkS3.initialize(FlinkS3.config(proxy.endpoint()));
    }

    @AfterEach
    void stop() throws Exception {
        try {
            if (proxy != null) {
                proxy.clearFaults();
            }
            if (cluster != null) {
                cluster.close();
            }
        } finally {
            if (s3 != null) {
                s3.close();
            }
        }
    }

    /** The counting job on the proxied S3 under {@code dir}, restarting with a fixed delay. */
    private Configuration jobConfig(String dir) {
        Configuration conf = s3.jobConfig(dir, spill);
        conf.set(ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT, ATTEMPT_TIMEOUT);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 10);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(500));
        return conf;
    }

    /** Starts the job on a cluster of its own and waits for checkpoints and records. */
    private JobID startJob(Scheduler scheduler, Configuration conf) throws Exception {
        cluster = LifecycleCluster.start(scheduler);
        return cluster.startCountingJob(conf);
    }

    @Test
    void restartedJobRidesOutAStatePutAndAMetadataPutNeverAnswered() throws Exception {
        Configuration conf = jobConfig("restart");
        JobID job = startJob(Scheduler.DEFAULT, conf);
        MiniCluster mini = cluster.cluster();

        // The induced failure: every task fails with the TaskManager, the job restarts from the
        // latest checkpoint once a new one joins.
        CountingJob.RESTORED_KEYS.set(0);
        mini.terminateTaskManager(0).get(30, TimeUnit.SECONDS);
        awaitWhileRunning(job, () -> !exceptionHistory(job).isEmpty(), "the failure recorded");
        // Checkpoints up to here began before the failure; later ones need the restarted tasks.
        long beforeRestart = maxCheckpointId(job);
        long injectedBefore = proxy.faultsInjected.get();
        HungPair hung = hangOnce(path -> checkpointId(path) > beforeRestart);
        mini.startTaskManager();
        awaitWhileRunning(
                job,
                () -> CountingJob.RESTORED_KEYS.get() >= KEYS,
                "the restarted job to process every key with its restored state");
        long restored = System.currentTimeMillis();
        long runningAgain = runningSince(job);

        awaitWhileRunning(job, hung::both, "a state PUT and a _metadata PUT left unanswered");
        long completed = awaitCompletedCheckpointAfter(job, hung.latestCheckpointId());
        System.out.printf(
                "restart: checkpoints after %d; left unanswered: %s; checkpoint %d completed%n",
                beforeRestart, hung, completed);

        assertThat(proxy.faultsInjected.get()).isGreaterThan(injectedBefore);
        // Only checkpoints triggered once the job ran again: one the timer began as the
        // TaskManager died (its id above beforeRestart, not yet in the statistics when read)
        // needs the dead tasks and fails "Trigger checkpoint failure." (seen in a loaded run).
        assertThat(failedCheckpointsAfter(job, beforeRestart, runningAgain))
                .as("checkpoints triggered after the restart that failed")
                .isEmpty();
        assertThat(failuresSince(job, restored))
                .as("job failures after the restart (the TaskManager loss was the only one)")
                .isEmpty();
        assertThat(cluster.status(job)).isEqualTo(JobStatus.RUNNING);
        cancelAndRestoreLatest(job, conf);
    }

    @Test
    void rescaledJobRidesOutStatePutsAndMetadataPutsNeverAnswered() throws Exception {
        Configuration conf = jobConfig("rescale");
        JobID job = startJob(Scheduler.ADAPTIVE, conf);
        JobVertexID keyed = cluster.vertexAt(job, 2);
        long injectedBefore = proxy.faultsInjected.get();

        // Around the rescale: the adaptive scheduler rescales from a checkpoint, which may be
        // the one these hang in.
        long beforeRescale = maxCheckpointId(job);
        HungPair during = hangOnce(path -> checkpointId(path) > beforeRescale);
        long start = System.nanoTime();
        CountingJob.RESTORED_KEYS.set(0);
        cluster.rescale(job, keyed, 4);
        cluster.awaitRunningAt(job, keyed, 4, WAIT);
        awaitWhileRunning(
                job,
                () -> CountingJob.RESTORED_KEYS.get() >= KEYS,
                "the rescaled job to process every key with its restored state");
        long rescaledMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        awaitWhileRunning(job, during::both, "a state PUT and a _metadata PUT left unanswered");

        // After it: the first checkpoints at the new parallelism.
        long afterRescale = maxCheckpointId(job);
        HungPair after = hangOnce(path -> checkpointId(path) > afterRescale);
        awaitWhileRunning(job, after::both, "a state PUT and a _metadata PUT left unanswered at 4");
        long completed = awaitCompletedCheckpointAfter(job, after.latestCheckpointId());
        System.out.printf(
                "rescale: to 4 in %d ms; left unanswered around it: %s; after it: %s;"
                        + " checkpoint %d completed%n",
                rescaledMs, during, after, completed);

        assertThat(proxy.faultsInjected.get()).isGreaterThan(injectedBefore);
        assertThat(failuresSince(job, 0)).as("job failures").isEmpty();
        assertThat(cluster.parallelism(job, keyed)).isEqualTo(4);
        assertThat(cluster.status(job)).isEqualTo(JobStatus.RUNNING);
        cancelAndRestoreLatest(job, conf);
    }

    @Test
    void stopWithSavepointRidesOutAStatePutAndAMetadataPutNeverAnswered() throws Exception {
        Configuration conf = jobConfig("stop");
        JobID job = startJob(Scheduler.DEFAULT, conf);
        MiniCluster mini = cluster.cluster();
        String savepoints = "s3://" + BUCKET + "/stop-savepoints";
        long injectedBefore = proxy.faultsInjected.get();
        HungPair hung = hangOnce(path -> path.contains("/stop-savepoints/savepoint-"));

        long start = System.nanoTime();
        String savepoint =
                mini.stopWithSavepoint(job, savepoints, false, SavepointFormatType.CANONICAL)
                        .get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        long stoppedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        System.out.printf(
                "stop-with-savepoint: %s in %d ms; left unanswered: %s%n",
                savepoint, stoppedMs, hung);

        assertThat(hung.both())
                .as("a savepoint state PUT and its _metadata PUT left unanswered: " + hung)
                .isTrue();
        assertThat(proxy.faultsInjected.get()).isGreaterThan(injectedBefore);
        cluster.awaitEnd(job, WAIT);
        assertThat(cluster.status(job)).isEqualTo(JobStatus.FINISHED);
        assertThat(failuresSince(job, 0)).as("job failures").isEmpty();
        assertThat(CountingJob.MISMATCHES.get()).isZero();

        proxy.clearFaults();
        CountingJob.verifyRestore(mini, conf, savepoint, CountingJob.PAYLOAD_BYTES);
    }

    @Test
    void cancelEndsTheJobWhileAStatePutAndAMetadataPutAreNeverAnswered() throws Exception {
        Configuration conf = jobConfig("cancel");
        JobID job = startJob(Scheduler.DEFAULT, conf);
        long beforeHang = maxCheckpointId(job);
        long injectedBefore = proxy.faultsInjected.get();
        HungPair hung = hangOnce(path -> checkpointId(path) > beforeHang);
        awaitWhileRunning(job, hung::both, "a state PUT and a _metadata PUT left unanswered");

        // The _metadata PUT comes last (after every acknowledgement), so the cancel meets it in
        // flight: the JobManager holds the coordinator's lock for it, at most max-blocking (5 s).
        long start = System.nanoTime();
        cluster.cluster().cancelJob(job);
        cluster.awaitEnd(job, WAIT);
        long cancelMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        System.out.printf("cancel: left unanswered: %s; job ended in %d ms%n", hung, cancelMs);

        assertThat(cluster.status(job)).isEqualTo(JobStatus.CANCELED);
        assertThat(cancelMs)
                .as("time from cancel to CANCELED with a state PUT and a _metadata PUT hung")
                .isLessThan(CANCEL_BOUND.toMillis());
        assertThat(proxy.faultsInjected.get()).isGreaterThan(injectedBefore);
        assertThat(CountingJob.MISMATCHES.get()).isZero();

        proxy.clearFaults();
        String checkpoint = CountingJob.latestCheckpointPath(cluster.cluster(), job);
        CountingJob.verifyRestore(cluster.cluster(), conf, checkpoint, CountingJob.PAYLOAD_BYTES);
    }

    /**
     * One state-file PUT (or UploadPart) and one {@code _metadata} PUT whose object path passes
     * {@code where}, left unanswered: the first of each kind.
     */
    private HungPair hangOnce(Predicate<String> where) {
        HungPair pair = new HungPair(where);
        proxy.inject(FaultProxy.Fault.of(FaultProxy.Shape.NO_ANSWER), pair, 2);
        return pair;
    }

    /**
     * Picks the requests to leave unanswered by request line: the first PUT of a state file (a file
     * directly in a {@code chk-N} or {@code savepoint-*} directory) and the first PUT of a {@code
     * _metadata}, among those whose path passes {@code where}.
     */
    static final class HungPair implements Predicate<String> {
        private final Predicate<String> where;
        final AtomicReference<String> state = new AtomicReference<>();
        final AtomicReference<String> metadata = new AtomicReference<>();

        HungPair(Predicate<String> where) {
            this.where = where;
        }

        @Override
        public boolean test(String requestLine) {
            if (!requestLine.startsWith("PUT ")) {
                return false;
            }
            String path = path(requestLine);
            if (!where.test(path)) {
                return false;
            }
            String[] segments = path.split("/", -1);
            if (segments.length < 2) {
                return false;
            }
            String name = segments[segments.length - 1];
            String dir = segments[segments.length - 2];
            if (!CHECKPOINT_DIR.matcher(dir).matches() && !dir.startsWith("savepoint-")) {
                return false;
            }
            if (name.equals("_metadata")) {
                return metadata.compareAndSet(null, requestLine);
            }
            if (!name.isEmpty() && !name.startsWith("_")) {
                return state.compareAndSet(null, requestLine);
            }
            return false;
        }

        boolean both() {
            return state.get() != null && metadata.get() != null;
        }

        /** The highest checkpoint id of the two requests (0 for savepoints). */
        long latestCheckpointId() {
            return Math.max(
                    state.get() == null ? 0 : checkpointId(path(state.get())),
                    metadata.get() == null ? 0 : checkpointId(path(metadata.get())));
        }

        @Override
        public String toString() {
            return "state " + state.get() + ", metadata " + metadata.get();
        }
    }

    /** The object path of a request line, without its query. */
    static String path(String requestLine) {
        String target = requestLine.split(" ")[1];
        int query = target.indexOf('?');
        return query < 0 ? target : target.substring(0, query);
    }

    /** The checkpoint id of a path under {@code chk-N}, or -1. */
    static long checkpointId(String path) {
        for (String segment : path.split("/")) {
            Matcher m = CHECKPOINT_DIR.matcher(segment);
            if (m.matches()) {
                return Long.parseLong(m.group(1));
            }
        }
        return -1;
    }

    /** The highest id of a checkpoint the job began so far (0 when none). */
    private long maxCheckpointId(JobID job) throws Exception {
        long max = 0;
        var history = CountingJob.stats(cluster.cluster(), job).getHistory();
        for (AbstractCheckpointStats c : history.getCheckpoints()) {
            max = Math.max(max, c.getCheckpointId());
        }
        CompletedCheckpointStats latest = history.getLatestCompletedCheckpoint();
        return latest == null ? max : Math.max(max, latest.getCheckpointId());
    }

    /** Waits until a checkpoint later than {@code checkpointId} completed; returns its id. */
    private long awaitCompletedCheckpointAfter(JobID job, long checkpointId) throws Exception {
        long[] latest = {0};
        awaitWhileRunning(
                job,
                () -> {
                    CompletedCheckpointStats c =
                            uncheck(
                                    () ->
                                            CountingJob.stats(cluster.cluster(), job)
                                                    .getHistory()
                                                    .getLatestCompletedCheckpoint());
                    latest[0] = c == null ? 0 : c.getCheckpointId();
                    return latest[0] > checkpointId;
                },
                "a checkpoint after " + checkpointId + " to complete");
        return latest[0];
    }

    /**
     * Failure messages of the job's failed checkpoints with an id above {@code checkpointId},
     * triggered at or after {@code triggeredSince} (wall clock).
     */
    private List<String> failedCheckpointsAfter(JobID job, long checkpointId, long triggeredSince)
            throws Exception {
        List<String> failed = new ArrayList<>();
        for (var c : CountingJob.stats(cluster.cluster(), job).getHistory().getCheckpoints()) {
            if (c instanceof FailedCheckpointStats
                    && c.getCheckpointId() > checkpointId
                    && c.getTriggerTimestamp() >= triggeredSince) {
                failed.add(
                        c.getCheckpointId()
                                + ": "
                                + ((FailedCheckpointStats) c).getFailureMessage());
            }
        }
        return failed;
    }

    /** When the job last switched to RUNNING (wall clock): after a restart, the restart. */
    private long runningSince(JobID job) throws Exception {
        return cluster.cluster()
                .getExecutionGraphInfo(job)
                .get(30, TimeUnit.SECONDS)
                .getArchivedExecutionGraph()
                .getStatusTimestamp(JobStatus.RUNNING);
    }

    /**
     * The job's failures, from its exception history (fresh from the JobMaster: the REST API's copy
     * may be seconds old).
     */
    private List<RootExceptionHistoryEntry> exceptionHistory(JobID job) {
        return uncheck(
                () -> {
                    List<RootExceptionHistoryEntry> entries = new ArrayList<>();
                    cluster.cluster()
                            .getExecutionGraphInfo(job)
                            .get(30, TimeUnit.SECONDS)
                            .getExceptionHistory()
                            .forEach(entries::add);
                    return entries;
                });
    }

    /** The job's failures recorded at or after {@code millis} (wall clock), as text. */
    private List<String> failuresSince(JobID job, long millis) {
        List<String> later = new ArrayList<>();
        for (RootExceptionHistoryEntry e : exceptionHistory(job)) {
            if (e.getTimestamp() >= millis) {
                later.add(e.getTimestamp() + " " + e.getExceptionAsString());
            }
        }
        return later;
    }

    /** Cancels the job and restores its latest checkpoint, checking every key's state. */
    private void cancelAndRestoreLatest(JobID job, Configuration conf) throws Exception {
        proxy.clearFaults();
        cluster.cancelAndVerifyLatest(job, conf, "while requests hung");
    }

    /**
     * Polls {@code condition} for at most {@link #WAIT}, failing with the job's error on its end.
     */
    private void awaitWhileRunning(JobID job, BooleanSupplier condition, String what)
            throws Exception {
        cluster.awaitWhileRunning(
                job,
                condition,
                what,
                WAIT,
                () -> "; proxy: " + proxy.faultsInjected.get() + " faults injected");
    }

    private interface Call<T> {
        T call() throws Exception;
    }

    private static <T> T uncheck(Call<T> call) {
        try {
            return call.call();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
