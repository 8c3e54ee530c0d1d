package io.github.resilientcheckpoints.cluster;

import static io.github.resilientcheckpoints.cluster.ClusterJobs.WAIT;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.assertNoMismatch;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.awaitCompleted;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.client;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.counts;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.failIfEnded;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.graph;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.restoredKeys;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.client.deployment.StandaloneClusterId;
import org.apache.flink.client.program.rest.RestClusterClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * A JobManager failover with real high-availability services: ZooKeeper (a server process of its
 * own) holds the leader and the job's pointers, a file system directory the job graph and its
 * completed checkpoints. The JobManager is killed with {@code kill -9} while checkpoints to the S3
 * server are under way; a new JobManager process with the same configuration becomes leader,
 * recovers the job from ZooKeeper and the HA directory (building its ExecutionGraph, and with it
 * calling the storage's {@code initializeBaseLocationsForCheckpoint}, again), and the job runs on:
 * every key's state exact, new checkpoints numbered above the old ones, then stop-with-savepoint
 * and a new job restored from it, exact too.
 *
 * <p>In the second case the store is down while the new JobManager recovers the job: the S3 server
 * is killed with the JobManager and comes back on the same port {@link #OUTAGE} after the new
 * JobManager first shows the recovered job. A recovery must ride that out like any checkpoint does:
 * the job is the user's running job, not a new submission to refuse. (Flink's Dispatcher treats a
 * recovered job whose JobMaster cannot start as fatal: the whole JobManager process exits, to be
 * restarted by whatever runs it and to try again.)
 */
class JobManagerFailoverIT {

    /**
     * ZooKeeper session timeout: how long the killed JobManager's leadership outlives it, so how
     * long the new one waits before it leads. Short, but not so short that a busy machine loses
     * sessions.
     */
    private static final Duration ZK_SESSION = Duration.ofSeconds(10);

    /** ZooKeeper's tick: sessions may last 2 to 20 ticks. */
    private static final int ZK_TICK_MILLIS = 1000;

    /**
     * The checkpoint timeout. The storage's submission probe gives up after 0.9 of it ({@code
     * retry.deadline-fraction}), here 10.8 s (its own bound, 30 s, is longer).
     */
    private static final Duration CHECKPOINT_TIMEOUT = Duration.ofSeconds(12);

    /**
     * How long the store stays down after the new JobManager first shows the recovered job: longer
     * than the probe's 10.8 s even if the probe starts several seconds after that first sight (2 s
     * when measured: the ExecutionGraph is built after the job shows as INITIALIZING), so the whole
     * set-up of the recovered job's storage falls into the outage.
     */
    private static final Duration OUTAGE = Duration.ofSeconds(20);

    @TempDir Path tmp;

    @Test
    void newJobManagerRecoversTheJobAndItsState(TestInfo test) throws Exception {
        failover(false, test);
    }

    @Test
    void newJobManagerRecoversTheJobWhileTheStoreIsDown(TestInfo test) throws Exception {
        failover(true, test);
    }

    private void failover(boolean storeDownDuringRecovery, TestInfo test) throws Exception {
        Path distribution = Paths.get("target", "flink").toAbsolutePath();
        try (Stream<Path> lib = Files.list(distribution.resolve("lib"))) {
            assertThat(lib.map(p -> p.getFileName().toString()))
                    .as("Flink's ZooKeeper HA services in the cluster's lib/ (with flink-runtime)")
                    .anyMatch(n -> n.startsWith("flink-shaded-zookeeper-3-"));
        }
        Path logs =
                Paths.get(
                                "target",
                                "cluster-logs",
                                System.currentTimeMillis()
                                        + "-"
                                        + test.getTestMethod().orElseThrow().getName())
                        .toAbsolutePath();
        Files.createDirectories(logs);
        Path mismatches = tmp.resolve("mismatches.txt");
        try (ZooKeeperServerProcess zk =
                        new ZooKeeperServerProcess(
                                Files.createDirectories(tmp.resolve("zookeeper")),
                                logs.resolve("zookeeper.out"),
                                ZK_TICK_MILLIS);
                S3ServerProcess s3 =
                        new S3ServerProcess(Files.createDirectories(tmp.resolve("s3")))) {
            s3.createBucket("cluster");
            Map<String, String> settings = new LinkedHashMap<>();
            settings.put("high-availability.type", "zookeeper");
            settings.put("high-availability.zookeeper.quorum", zk.quorum());
            settings.put(
                    "high-availability.storageDir",
                    Files.createDirectories(tmp.resolve("ha")).toUri().toString());
            settings.put("high-availability.cluster-id", "/rcs-failover-" + UUID.randomUUID());
            settings.put(
                    "high-availability.zookeeper.client.session-timeout",
                    ZK_SESSION.toMillis() + " ms");
            settings.put("zookeeper.sasl.disable", "true");
            settings.put(
                    "execution.checkpointing.storage",
                    "io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory");
            settings.put("execution.checkpointing.dir", "s3://cluster/checkpoints");
            settings.put("execution.checkpointing.savepoint-dir", "s3://cluster/savepoints");
            settings.put("execution.checkpointing.timeout", CHECKPOINT_TIMEOUT.toSeconds() + " s");
            settings.put("state.backend.type", "hashmap");
            settings.put("s3.endpoint", s3.endpoint().toString());
            settings.put("s3.region", S3ServerProcess.REGION);
            settings.put("s3.access-key", S3ServerProcess.ACCESS_KEY);
            settings.put("s3.secret-key", S3ServerProcess.SECRET_KEY);
            settings.put("s3.path-style-access", "true");
            settings.put(
                    "execution.checkpointing.resilient.spill.directories",
                    Files.createDirectories(tmp.resolve("spill")).toString());
            // Uploads of about a second, so that the kill lands while a checkpoint is under way.
            settings.put("execution.checkpointing.resilient.throttle.max-rate", "4 mb");
            // Restarts while the store is down must not use up the attempts.
            settings.put("restart-strategy.type", "fixed-delay");
            settings.put("restart-strategy.fixed-delay.attempts", "1000");
            settings.put("restart-strategy.fixed-delay.delay", "1 s");
            // Checkpoint statistics as they are, not as they were up to 3 s ago.
            settings.put("rest.cache.checkpoint-statistics.timeout", "200 ms");
            // One TaskManager with two slots runs the whole job.
            settings.put("taskmanager.numberOfTaskSlots", "2");
            JobID job = null;
            try (StandaloneCluster cluster =
                            new StandaloneCluster(
                                    distribution, tmp.resolve("flink"), logs, settings);
                    RestClusterClient<StandaloneClusterId> client = client(cluster)) {
                try {
                    cluster.startJobManager();
                    cluster.startTaskManager(1);
                    Path jobJar = ClusterJobs.jobJar(tmp);

                    job =
                            client.submitJob(graph(jobJar, mismatches, null))
                                    .get(60, TimeUnit.SECONDS);
                    JobID submitted = job;
                    awaitCompleted(cluster, job, 2);
                    cluster.await(
                            WAIT,
                            "checkpoint in progress",
                            () -> counts(cluster, submitted).path("in_progress").asInt() > 0);
                    long completedBeforeKill = latestCompletedId(cluster, job);
                    long killedAt = System.nanoTime();
                    StandaloneCluster.kill9(cluster.jobManager());
                    if (storeDownDuringRecovery) {
                        s3.stop();
                    }

                    // Same configuration, new process: leader once the old one's ZooKeeper
                    // session has expired.
                    cluster.startJobManager();
                    log("new JobManager answers %.1f s after the kill", secondsSince(killedAt));
                    if (storeDownDuringRecovery) {
                        cluster.await(
                                WAIT,
                                "the recovered job " + job + " on the new JobManager",
                                () -> cluster.get("/jobs/" + submitted) != null);
                        log(
                                "recovered job shown %.1f s after the kill; the store stays down"
                                        + " for %s more",
                                secondsSince(killedAt), OUTAGE);
                        List<String> states = holdOutage(cluster, job);
                        s3.start();
                        log("store back; job states seen while it was down: %s", states);
                    }

                    cluster.await(
                            WAIT,
                            "restore of every key after the JobManager failover",
                            () -> {
                                failIfEnded(cluster, submitted);
                                return restoredKeys(mismatches, submitted) == ClusterJob.KEYS;
                            });
                    log(
                            "job running with every key restored %.1f s after the kill",
                            secondsSince(killedAt));
                    // The new JobManager's statistics count its own checkpoints only.
                    awaitCompleted(cluster, job, 2);
                    JsonNode latest = cluster.get("/jobs/" + job + "/checkpoints").path("latest");
                    JsonNode restored = latest.path("restored");
                    assertThat(restored.path("is_savepoint").asBoolean())
                            .as("restored from a checkpoint: %s", restored)
                            .isFalse();
                    assertThat(restored.path("id").asLong())
                            .as(
                                    "restored from the latest checkpoint in ZooKeeper (%s completed"
                                            + " before the kill): %s",
                                    completedBeforeKill, restored)
                            .isGreaterThanOrEqualTo(completedBeforeKill);
                    assertThat(latest.path("completed").path("id").asLong())
                            .as("checkpoint ids go on above the restored one: %s", latest)
                            .isGreaterThan(restored.path("id").asLong());
                    assertNoMismatch(mismatches);

                    String savepoint =
                            client.stopWithSavepoint(
                                            job, false, null, SavepointFormatType.CANONICAL)
                                    .get(120, TimeUnit.SECONDS);
                    assertThat(savepoint).startsWith("s3://cluster/savepoints/");
                    assertThat(
                                    s3.blobs()
                                            .resolve("cluster")
                                            .resolve(savepoint.substring("s3://cluster/".length()))
                                            .resolve("_metadata"))
                            .isRegularFile();

                    job =
                            client.submitJob(graph(jobJar, mismatches, savepoint))
                                    .get(60, TimeUnit.SECONDS);
                    JobID fromSavepoint = job;
                    cluster.await(
                            WAIT,
                            "restore of every key from the savepoint",
                            () -> {
                                failIfEnded(cluster, fromSavepoint);
                                return restoredKeys(mismatches, fromSavepoint) == ClusterJob.KEYS;
                            });
                    awaitCompleted(cluster, fromSavepoint, 1);
                    client.cancel(fromSavepoint).get(60, TimeUnit.SECONDS);
                    assertNoMismatch(mismatches);
                } catch (Throwable t) {
                    String diagnosis = diagnosis(cluster, job, s3);
                    System.out.println(diagnosis);
                    t.addSuppressed(new AssertionError("diagnosis:\n" + diagnosis));
                    throw t;
                }
            }
        }
    }

    /**
     * Keeps the store down for {@link #OUTAGE}, watching that the new JobManager lives and the job
     * does not end; returns the job's states as they were seen, in order.
     */
    private static List<String> holdOutage(StandaloneCluster cluster, JobID job)
            throws InterruptedException {
        List<String> states = new ArrayList<>();
        long end = System.nanoTime() + OUTAGE.toNanos();
        while (System.nanoTime() < end) {
            if (!cluster.jobManager().isAlive()) {
                throw new AssertionError(
                        "the new JobManager died while it recovered job "
                                + job
                                + " with the store down (job states seen: "
                                + states
                                + "); see its log");
            }
            JsonNode status = cluster.get("/jobs/" + job);
            String state = status == null ? "(no answer)" : status.path("state").asText();
            if (states.isEmpty() || !states.get(states.size() - 1).equals(state)) {
                states.add(state);
            }
            failIfEnded(cluster, job);
            Thread.sleep(200);
        }
        return states;
    }

    private static long latestCompletedId(StandaloneCluster cluster, JobID job) {
        JsonNode stats = cluster.get("/jobs/" + job + "/checkpoints");
        assertThat(stats).as("checkpoint statistics of %s", job).isNotNull();
        long id = stats.path("latest").path("completed").path("id").asLong();
        assertThat(id).as("latest completed checkpoint: %s", stats).isPositive();
        return id;
    }

    /** The job's exceptions as the JobManager reports them, and the tail of every process's log. */
    private static String diagnosis(StandaloneCluster cluster, JobID job, S3ServerProcess s3) {
        StringBuilder d = new StringBuilder();
        if (job != null) {
            Process jm = cluster.jobManager();
            JsonNode exceptions =
                    jm != null && jm.isAlive() ? cluster.get("/jobs/" + job + "/exceptions") : null;
            d.append("----- exceptions of job ")
                    .append(job)
                    .append(": ")
                    .append(exceptions == null ? "(no JobManager answers)" : exceptions)
                    .append('\n');
        }
        d.append(cluster.jobManagerErrors(40));
        d.append(cluster.logTails(50));
        d.append(StandaloneCluster.tail(s3.out(), 50));
        return d.toString();
    }

    private static double secondsSince(long nanos) {
        return (System.nanoTime() - nanos) / 1e9;
    }

    private static void log(String format, Object... args) {
        System.out.println("JobManagerFailoverIT: " + String.format(format, args));
    }
}
