package io.github.resilientcheckpoints.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.client.deployment.StandaloneClusterId;
import org.apache.flink.client.program.rest.RestClusterClient;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.jobgraph.SavepointRestoreSettings;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.MissingNode;
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

    private static final Duration WAIT = Duration.ofSeconds(120);

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
                Path jobJar = jobJar();

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
                        () -> restoredKeys(cluster, job) == ClusterJob.KEYS);
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
                        () -> restoredKeys(cluster, fromSavepoint) == ClusterJob.KEYS);
                awaitCompleted(cluster, fromSavepoint, 1);
                client.cancel(fromSavepoint).get(60, TimeUnit.SECONDS);
                assertNoMismatch(mismatches);
            }
        }
    }

    private static RestClusterClient<StandaloneClusterId> client(StandaloneCluster cluster)
            throws Exception {
        Configuration conf = new Configuration();
        conf.set(RestOptions.ADDRESS, "127.0.0.1");
        conf.set(RestOptions.PORT, cluster.rest().getPort());
        return new RestClusterClient<>(conf, StandaloneClusterId.getInstance());
    }

    private static JobGraph graph(Path jobJar, Path mismatches, String savepoint) {
        JobGraph graph = ClusterJob.graph(mismatches.toString());
        graph.addJar(new org.apache.flink.core.fs.Path(jobJar.toUri()));
        if (savepoint != null) {
            graph.setSavepointRestoreSettings(SavepointRestoreSettings.forPath(savepoint, false));
        }
        return graph;
    }

    private static JsonNode counts(StandaloneCluster cluster, JobID job) {
        JsonNode stats = cluster.get("/jobs/" + job + "/checkpoints");
        return stats == null ? MissingNode.getInstance() : stats.path("counts");
    }

    private static void awaitCompleted(StandaloneCluster cluster, JobID job, long count)
            throws InterruptedException {
        cluster.await(
                WAIT,
                count + " completed checkpoints of " + job,
                () -> {
                    JsonNode status = cluster.get("/jobs/" + job);
                    if (status != null
                            && List.of("FAILED", "CANCELED", "FINISHED")
                                    .contains(status.path("state").asText())) {
                        throw new AssertionError(
                                "job "
                                        + job
                                        + " ended: "
                                        + status.path("state").asText()
                                        + "; exceptions: "
                                        + cluster.get("/jobs/" + job + "/exceptions"));
                    }
                    return counts(cluster, job).path("completed").asLong() >= count;
                });
    }

    /** The resource id of the TaskManager running the verifier's first subtask. */
    private static String verifierTaskManager(StandaloneCluster cluster, JobID job) {
        for (JsonNode vertex : cluster.get("/jobs/" + job).path("vertices")) {
            if (vertex.path("name").asText().contains(ClusterJob.VERIFIER)) {
                JsonNode detail =
                        cluster.get("/jobs/" + job + "/vertices/" + vertex.path("id").asText());
                String id = detail.path("subtasks").path(0).path("taskmanager-id").asText();
                assertThat(id).as("taskmanager-id of %s", detail).isNotEmpty();
                return id;
            }
        }
        throw new AssertionError("no verifier vertex in job " + job);
    }

    /** Sum over the verifier's subtasks of the keys that came back with state in this attempt. */
    private static long restoredKeys(StandaloneCluster cluster, JobID job) {
        JsonNode detail = cluster.get("/jobs/" + job);
        if (detail == null || !"RUNNING".equals(detail.path("state").asText())) {
            return -1;
        }
        for (JsonNode vertex : detail.path("vertices")) {
            if (vertex.path("name").asText().contains(ClusterJob.VERIFIER)) {
                String base =
                        "/jobs/"
                                + job
                                + "/vertices/"
                                + vertex.path("id").asText()
                                + "/subtasks/metrics";
                JsonNode available = cluster.get(base);
                if (available == null) {
                    return -1;
                }
                for (JsonNode metric : available) {
                    String id = metric.path("id").asText();
                    if (id.endsWith(".restoredKeys")) {
                        JsonNode value = cluster.get(base + "?get=" + id + "&agg=sum");
                        return value == null || value.size() == 0
                                ? -1
                                : (long) value.get(0).path("sum").asDouble();
                    }
                }
            }
        }
        return -1;
    }

    private static void assertNoMismatch(Path mismatches) throws IOException {
        assertThat(Files.exists(mismatches) ? Files.readAllLines(mismatches) : List.<String>of())
                .as("state that came back wrong")
                .isEmpty();
    }

    /** The job's classes as a jar, shipped to the cluster with the job as a user would. */
    private Path jobJar() throws IOException, URISyntaxException {
        Path classes =
                Paths.get(
                        ClusterJob.class
                                .getProtectionDomain()
                                .getCodeSource()
                                .getLocation()
                                .toURI());
        String dir = ClusterJob.class.getPackageName().replace('.', '/');
        Path jar = tmp.resolve("cluster-job.jar");
        try (OutputStream out = Files.newOutputStream(jar);
                JarOutputStream jarOut = new JarOutputStream(out);
                Stream<Path> files = Files.list(classes.resolve(dir))) {
            for (Path f :
                    (Iterable<Path>)
                            files.filter(p -> p.getFileName().toString().startsWith("ClusterJob"))
                                    ::iterator) {
                jarOut.putNextEntry(new JarEntry(dir + "/" + f.getFileName()));
                jarOut.write(Files.readAllBytes(f));
                jarOut.closeEntry();
            }
        }
        return jar;
    }
}
