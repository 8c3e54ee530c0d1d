package io.github.resilientcheckpoints.cluster;

import static io.github.resilientcheckpoints.cluster.ClusterJobs.WAIT;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.assertNoMismatch;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.awaitCompleted;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.client;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.counts;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.graph;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.restoredKeys;
import static io.github.resilientcheckpoints.cluster.ClusterJobs.verifierTaskManager;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.client.deployment.StandaloneClusterId;
import org.apache.flink.client.program.rest.RestClusterClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The storage on a real standalone Flink cluster, installed as the README says: the project's one
 * jar in {@code lib/}, Flink's S3 file system in {@code plugins/}, the settings in {@code
 * conf/config.yaml}; JobManager, two TaskManagers and the S3 server are separate processes. A
 * TaskManager is killed with {@code kill -9} while a checkpoint is being uploaded; the job restarts
 * from its latest checkpoint with every key's state exact; then stop-with-savepoint, and a new job
 * restored from that savepoint comes back exact too.
 */
class StandaloneClusterIT {

    @TempDir Path tmp;

    @Test
    void killNineMidUploadThenStopWithSavepointRestoreExactly() throws Exception {
        Path distribution = Paths.get("target", "flink").toAbsolutePath();
        assertThat(distribution.resolve("lib")).as("copied by the build").isDirectory();
        try (Stream<Path> lib = Files.list(distribution.resolve("lib"))) {
            assertThat(lib.map(p -> p.getFileName().toString()))
                    .as("installed: one jar of ours, nothing else of ours or of its dependencies")
                    .filteredOn(
                            n ->
                                    n.startsWith("resilient")
                                            || n.startsWith("caffeine")
                                            || n.contains("awssdk")
                                            || n.startsWith("s3-"))
                    .singleElement()
                    .satisfies(
                            n -> assertThat(n).matches("resilient-checkpoint-storage-\\d.*\\.jar"));
        }
        Path mismatches = tmp.resolve("mismatches.txt");
        try (S3ServerProcess s3 = new S3ServerProcess(Files.createDirectories(tmp.resolve("s3")))) {
            s3.createBucket("cluster");
            Map<String, String> settings = new LinkedHashMap<>();
            settings.put(
                    "execution.checkpointing.storage",
                    "io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory");
            settings.put("execution.checkpointing.dir", "s3://cluster/checkpoints");
            settings.put("execution.checkpointing.savepoint-dir", "s3://cluster/savepoints");
            settings.put("execution.checkpointing.timeout", "60 s");
            settings.put("state.backend.type", "hashmap");
            settings.put("s3.endpoint", s3.endpoint().toString());
            settings.put("s3.region", S3ServerProcess.REGION);
            settings.put("s3.access-key", S3ServerProcess.ACCESS_KEY);
            settings.put("s3.secret-key", S3ServerProcess.SECRET_KEY);
            settings.put("s3.path-style-access", "true");
            settings.put(
                    "execution.checkpointing.resilient.spill.directories",
                    Files.createDirectories(tmp.resolve("spill")).toString());
            // Slow uploads, so that the kill lands while one is under way.
            settings.put("execution.checkpointing.resilient.throttle.max-rate", "2 mb");
            settings.put("restart-strategy.type", "fixed-delay");
            settings.put("restart-strategy.fixed-delay.attempts", "20");
            settings.put("restart-strategy.fixed-delay.delay", "1 s");
            try (StandaloneCluster cluster =
                            new StandaloneCluster(
                                    distribution,
                                    tmp.resolve("flink"),
                                    Paths.get(
                                                    "target",
                                                    "cluster-logs",
                                                    Long.toString(System.currentTimeMillis()))
                                            .toAbsolutePath(),
                                    settings);
                    RestClusterClient<StandaloneClusterId> client = client(cluster)) {
                cluster.startJobManager();
                cluster.startTaskManager(1);
                cluster.startTaskManager(2);
                Path jobJar = ClusterJobs.jobJar(tmp);

                JobID job =
                        client.submitJob(graph(jobJar, mismatches, null)).get(60, TimeUnit.SECONDS);
                awaitCompleted(cluster, job, 2);
                cluster.await(
                        WAIT,
                        "checkpoint in progress",
                        () -> counts(cluster, job).path("in_progress").asInt() > 0);
                long completedBeforeKill = counts(cluster, job).path("completed").asLong();
                // The TaskManager that runs the stateful operator: its state must come back.
                StandaloneCluster.kill9(cluster.taskManager(verifierTaskManager(cluster, job)));
                cluster.startTaskManager(2);

                cluster.await(
                        WAIT,
                        "restore of every key after the kill",
                        () -> restoredKeys(mismatches, job) == ClusterJob.KEYS);
                awaitCompleted(cluster, job, completedBeforeKill + 2);
                JsonNode restored =
                        cluster.get("/jobs/" + job + "/checkpoints")
                                .path("latest")
                                .path("restored");
                assertThat(restored.path("id").asLong())
                        .as("restored from a checkpoint: %s", restored)
                        .isPositive();
                assertNoMismatch(mismatches);

                String savepoint =
                        client.stopWithSavepoint(job, false, null, SavepointFormatType.CANONICAL)
                                .get(120, TimeUnit.SECONDS);
                assertThat(savepoint).startsWith("s3://cluster/savepoints/");
                assertThat(
                                s3.blobs()
                                        .resolve("cluster")
                                        .resolve(savepoint.substring("s3://cluster/".length()))
                                        .resolve("_metadata"))
                        .isRegularFile();

                JobID fromSavepoint =
                        client.submitJob(graph(jobJar, mismatches, savepoint))
                                .get(60, TimeUnit.SECONDS);
                cluster.await(
                        WAIT,
                        "restore of every key from the savepoint",
                        () -> restoredKeys(mismatches, fromSavepoint) == ClusterJob.KEYS);
                awaitCompleted(cluster, fromSavepoint, 1);
                client.cancel(fromSavepoint).get(60, TimeUnit.SECONDS);
                assertNoMismatch(mismatches);
            }
        }
    }
}
