package io.github.resilientcheckpoints.cli.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.cli.doctor.Cause.Kind;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.FaultyFileSystem;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.WebOptions;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code doctor diagnose} against a real MiniCluster's REST endpoint, one engineered job per cause.
 * Asserts on cause kinds, never on numbers. With {@code -Ddoctor.record=DIR} the REST answers of
 * each case are saved for {@link DiagnosisTest}.
 *
 * <p>Each test has a MiniCluster of its own, whose jobs are cancelled and awaited until they ended
 * before the test ends (a failing test's job once kept the shared cluster's every slot, and the
 * next tests' jobs failed for lack of slots), and its own checkpoint and spill directories.
 */
class DiagnoseIT {

    /** The largest job here has a parallelism of 2; jobs run one at a time. */
    private static final int PARALLELISM = 2;

    @RegisterExtension
    final MiniClusterPerTest miniCluster =
            new MiniClusterPerTest(PARALLELISM, DiagnoseIT::clusterConfig);

    /**
     * Parent of every test's directories, deleted after the last test of the class: the storage's
     * runtime outlives a test (one per JVM) and keeps reading the free space of every spill
     * directory it was given; with a test's directory deleted, that logged "Could not probe free
     * space" warnings about another test's directory in every later test.
     */
    @TempDir static Path classDir;

    private Path checkpoints;
    private Path spill;

    private static Configuration clusterConfig() {
        Configuration conf = new Configuration();
        conf.set(RestOptions.BIND_ADDRESS, "127.0.0.1");
        conf.set(RestOptions.ADDRESS, "127.0.0.1");
        conf.set(RestOptions.BIND_PORT, "0");
        // fresh statistics and metrics for the REST API at once, not every few seconds
        conf.set(WebOptions.REFRESH_INTERVAL, Duration.ofMillis(100));
        conf.set(RestOptions.CACHE_CHECKPOINT_STATISTICS_TIMEOUT, Duration.ofMillis(100));
        conf.set(RestOptions.CACHE_EXECUTION_GRAPH_TIMEOUT, Duration.ofMillis(100));
        conf.set(MetricOptions.METRIC_FETCHER_UPDATE_INTERVAL, Duration.ofMillis(100));
        return conf;
    }

    /** This test's own checkpoint and spill directories. */
    @BeforeEach
    void directories(TestInfo test) throws Exception {
        Path mine =
                Files.createDirectories(
                        classDir.resolve(test.getTestMethod().orElseThrow().getName()));
        checkpoints = Files.createDirectories(mine.resolve("checkpoints"));
        spill = Files.createDirectories(mine.resolve("spill"));
        FaultyFileSystem.mode = FaultyFileSystem.Mode.OFF;
    }

    @AfterEach
    void faultsOff() {
        FaultyFileSystem.mode = FaultyFileSystem.Mode.OFF;
    }

    private Configuration job(String root) {
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(), "hashmap", root);
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        // not the number of slots or of cores: every job fits the cluster's slots
        conf.set(CoreOptions.DEFAULT_PARALLELISM, PARALLELISM);
        return conf;
    }

    private Configuration job() {
        return job(checkpoints.toUri().toString());
    }

    /**
     * Reads the job through the REST API (recording the answers when asked) and prints the report.
     */
    private static List<Cause> diagnose(MiniCluster cluster, JobID job, String name, Duration slow)
            throws Exception {
        String url = cluster.getRestAddress().get(30, TimeUnit.SECONDS).toString();
        Thread.sleep(300); // the REST caches (100 ms) see the last checkpoints
        RecordedRest recorder =
                RecordedRest.recording(new FlinkRest.Http(url, Duration.ofSeconds(30)));
        JobStats stats = new FlinkRest(recorder, url).read(job.toString());
        String dir = System.getProperty("doctor.record");
        if (dir != null) {
            recorder.save(Paths.get(dir, name + ".json"));
        }
        Diagnosis diagnosis = new Diagnosis(slow);
        List<Cause> causes = diagnosis.causes(stats);
        System.out.println(
                "=== "
                        + name
                        + "\n"
                        + new DiagnoseReport(stats, causes, diagnosis.slowThresholdMs(stats))
                                .text());
        return causes;
    }

    private static Set<Kind> kinds(List<Cause> causes) {
        return causes.stream().map(Cause::kind).collect(Collectors.toSet());
    }

    private interface Condition {
        boolean holds() throws Exception;
    }

    /** Waits up to 60 s for the condition; fails at once, with the job's failure, if it ended. */
    private static void await(MiniCluster cluster, JobID job, String what, Condition condition)
            throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.holds()) {
            JobStatus status = cluster.getJobStatus(job).get(30, TimeUnit.SECONDS);
            if (status.isGloballyTerminalState()) {
                throw new AssertionError(
                        "job " + job + " ended (" + status + ") while waiting for " + what,
                        cluster.requestJobResult(job)
                                .get(30, TimeUnit.SECONDS)
                                .getSerializedThrowable()
                                .orElse(null));
            }
            if (System.nanoTime() > end) {
                throw new AssertionError("not within 60 s: " + what + " (job " + status + ")");
            }
            Thread.sleep(50);
        }
    }

    /** Diagnoses with a 1 s threshold once a checkpoint took that long. */
    private static List<Cause> diagnoseOnceSlow(MiniCluster cluster, JobID job, String name)
            throws Exception {
        CountingJob.awaitCompletedCheckpoints(cluster, job, 3);
        awaitCompletedCheckpointSlowerThan(cluster, job, Duration.ofSeconds(1));
        return diagnose(cluster, job, name, Duration.ofSeconds(1));
    }

    private static void awaitCompletedCheckpointSlowerThan(
            MiniCluster cluster, JobID job, Duration slow) throws Exception {
        await(
                cluster,
                job,
                "a completed checkpoint of " + slow + " or more",
                () ->
                        CountingJob.stats(cluster, job).getHistory().getCheckpoints().stream()
                                .anyMatch(
                                        c ->
                                                c.getStatus().isCompleted()
                                                        && c.getEndToEndDuration()
                                                                >= slow.toMillis()));
    }

    private static void awaitFailedCheckpoints(MiniCluster cluster, JobID job, long count)
            throws Exception {
        await(
                cluster,
                job,
                count + " failed checkpoints",
                () ->
                        CountingJob.stats(cluster, job).getCounts().getNumberOfFailedCheckpoints()
                                >= count);
    }

    // The jobs are cancelled, and awaited until they ended, by the MiniClusterPerTest extension.

    @Test
    void healthyJobHasNoCause(MiniCluster cluster) throws Exception {
        JobID job = CountingJob.start(cluster, job());
        CountingJob.awaitCompletedCheckpoints(cluster, job, 6);
        List<Cause> causes = diagnose(cluster, job, "healthy", Duration.ofSeconds(5));
        assertThat(causes).isEmpty();
    }

    @Test
    void slowThrottlingStoreIsNamed(MiniCluster cluster) throws Exception {
        Configuration conf = job();
        // the drill: 80 % of upload attempts answered with a throttle signal, backing off 200 ms to
        // 1 s
        conf.set(ResilientCheckpointOptions.FAULT_INJECTION_THROTTLED_RATIO, 0.8);
        conf.set(ResilientCheckpointOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(200));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_BACKOFF, Duration.ofSeconds(1));
        conf.set(ResilientCheckpointOptions.RETRY_MAX_ATTEMPTS, 200);
        // The drill throttles the JobManager's _metadata writes too. Within the default 5 s of
        // retries, every attempt failed about once in five checkpoints: the JobManager gave up,
        // and that checkpoint was rightly diagnosed as refused. A slow store is the case here.
        conf.set(ResilientCheckpointOptions.JOBMANAGER_MAX_BLOCKING, Duration.ofMinutes(1));
        conf.set(CheckpointingOptions.FILE_MERGING_ENABLED, true); // publishes our counters
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 1000);
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(2));
        // the retry waits are jittered: diagnosed once the drill has made a checkpoint slow
        List<Cause> causes =
                diagnoseOnceSlow(cluster, CountingJob.start(cluster, conf), "store-throttled");
        assertThat(kinds(causes)).containsExactly(Kind.STORE_SLOW);
        assertThat(causes).anySatisfy(c -> assertThat(c.evidence()).contains("failuresThrottled"));
    }

    @Test
    void skewedKeyWithSlowOperatorIsBarrierDelay(MiniCluster cluster) throws Exception {
        Configuration conf = job();
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 1000);
        List<Cause> causes =
                diagnoseOnceSlow(
                        cluster, EngineeredJobs.skewed(cluster, conf), "skew-backpressure");
        assertThat(kinds(causes)).containsExactly(Kind.BARRIER_DELAY);
        assertThat(causes).allSatisfy(c -> assertThat(c.fix()).contains("unaligned"));
    }

    @Test
    void growingStateIsNamed(MiniCluster cluster) throws Exception {
        Configuration conf = job();
        // The rule wants the last completed checkpoints (at most Flink's 10 in the REST history)
        // to have grown by 1.5 times. The state grows linearly: at 200 ms, a loaded machine read
        // the history only at checkpoint 23, by then its last 6 (18 to 23) had grown 1.33 times.
        // At 1 s, the reading sees the job's first checkpoints.
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofSeconds(1));
        JobID job = EngineeredJobs.growing(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 7);
        List<Cause> causes = diagnose(cluster, job, "state-growth", null);
        assertThat(kinds(causes)).containsExactly(Kind.STATE_GROWTH);
    }

    @Test
    void timeoutTooShortIsNamed(MiniCluster cluster) throws Exception {
        Configuration conf = job();
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMillis(40));
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 1000);
        // Checkpoints that need 100 ms, no phase near the 500 ms that would name it. (A
        // CountingJob's checkpoints took 10 to 50 ms: whether they failed was up to the machine.)
        JobID job = EngineeredJobs.slowSnapshot(cluster, conf, Duration.ofMillis(100));
        awaitFailedCheckpoints(cluster, job, 4);
        List<Cause> causes = diagnose(cluster, job, "timeout-too-short", null);
        assertThat(kinds(causes)).containsExactly(Kind.TIMEOUT_TOO_SHORT);
        assertThat(causes)
                .anySatisfy(
                        c -> assertThat(c.fix()).startsWith("execution.checkpointing.timeout: "));
    }

    @Test
    void refusingRootIsNamedAndFailsTheCommand(MiniCluster cluster) throws Exception {
        Configuration conf = job(FaultyFileSystem.uri(checkpoints));
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 1000);
        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 1);
        // from now on the store refuses every checkpoint's _metadata, as a bucket policy would
        FaultyFileSystem.mode = FaultyFileSystem.Mode.ACCESS_DENIED;
        awaitFailedCheckpoints(cluster, job, 2);
        List<Cause> causes = diagnose(cluster, job, "store-refusing", null);

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String url = cluster.getRestAddress().get(30, TimeUnit.SECONDS).toString();
        int exit =
                DoctorCommand.run(
                        new String[] {"diagnose", url, job.toString(), "--json"},
                        new PrintStream(out, true, StandardCharsets.UTF_8),
                        System.err,
                        Map.of());

        assertThat(kinds(causes)).containsExactly(Kind.STORE_REFUSING);
        assertThat(causes).allSatisfy(c -> assertThat(c.evidence()).contains("_metadata"));
        assertThat(exit).isEqualTo(1);
        JsonNode json = FlinkRest.JSON.readTree(out.toString(StandardCharsets.UTF_8));
        assertThat(json.path("failing").asBoolean()).isTrue();
        assertThat(json.path("causes").get(0).path("kind").asText()).isEqualTo("store-refusing");
    }
}
