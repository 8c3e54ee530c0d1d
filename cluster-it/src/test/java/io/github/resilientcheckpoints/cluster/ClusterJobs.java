package io.github.resilientcheckpoints.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.client.deployment.StandaloneClusterId;
import org.apache.flink.client.program.rest.RestClusterClient;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.jobgraph.SavepointRestoreSettings;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.MissingNode;

/**
 * What the cluster tests do with {@link ClusterJob} on a {@link StandaloneCluster}: ship and submit
 * it, read its checkpoint statistics and its restored keys through the REST API, check its state.
 */
final class ClusterJobs {

    static final Duration WAIT = Duration.ofSeconds(120);

    private ClusterJobs() {}

    static RestClusterClient<StandaloneClusterId> client(StandaloneCluster cluster)
            throws Exception {
        Configuration conf = new Configuration();
        conf.set(RestOptions.ADDRESS, "127.0.0.1");
        conf.set(RestOptions.PORT, cluster.rest().getPort());
        return new RestClusterClient<>(conf, StandaloneClusterId.getInstance());
    }

    static JobGraph graph(Path jobJar, Path mismatches, String savepoint) {
        JobGraph graph = ClusterJob.graph(mismatches.toString());
        graph.addJar(new org.apache.flink.core.fs.Path(jobJar.toUri()));
        if (savepoint != null) {
            graph.setSavepointRestoreSettings(SavepointRestoreSettings.forPath(savepoint, false));
        }
        return graph;
    }

    static JsonNode counts(StandaloneCluster cluster, JobID job) {
        JsonNode stats = cluster.get("/jobs/" + job + "/checkpoints");
        return stats == null ? MissingNode.getInstance() : stats.path("counts");
    }

    static void awaitCompleted(StandaloneCluster cluster, JobID job, long count)
            throws InterruptedException {
        cluster.await(
                WAIT,
                count + " completed checkpoints of " + job,
                () -> {
                    failIfEnded(cluster, job);
                    return counts(cluster, job).path("completed").asLong() >= count;
                });
    }

    /** Fails, with the job's exceptions, if the job has ended (failed, canceled or finished). */
    static void failIfEnded(StandaloneCluster cluster, JobID job) {
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
    }

    /** The resource id of the TaskManager running the verifier's first subtask. */
    static String verifierTaskManager(StandaloneCluster cluster, JobID job) {
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

    /**
     * Keys the verifier of {@code job}'s latest restored attempt found with their state, from the
     * file it appends them to next to {@code mismatches} ({@link ClusterJob#restoredFile}).
     *
     * <p>Not from the REST metric store: a job details request just before the kill makes the
     * JobManager's metric fetcher ask every registered TaskManager for its metric service, and the
     * request to the killed one waits {@code web.timeout} (10 min). No new fetch starts meanwhile,
     * so the store keeps the attempt before the kill, whatever the new attempt counts.
     */
    static long restoredKeys(Path mismatches, JobID job) {
        Path restored = ClusterJob.restoredFile(mismatches);
        try {
            if (!Files.exists(restored)) {
                return 0;
            }
            String prefix = job.toHexString() + " ";
            List<String[]> lines =
                    Files.readAllLines(restored).stream()
                            .filter(line -> line.startsWith(prefix))
                            .map(line -> line.split(" "))
                            .filter(fields -> fields.length == 3)
                            .toList();
            int latest = lines.stream().mapToInt(f -> Integer.parseInt(f[1])).max().orElse(-1);
            return lines.stream()
                    .filter(f -> Integer.parseInt(f[1]) == latest)
                    .map(f -> f[2])
                    .distinct()
                    .count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void assertNoMismatch(Path mismatches) throws IOException {
        assertThat(Files.exists(mismatches) ? Files.readAllLines(mismatches) : List.<String>of())
                .as("state that came back wrong")
                .isEmpty();
    }

    /** The job's classes as a jar in {@code into}, shipped to the cluster as a user would. */
    static Path jobJar(Path into) throws IOException, URISyntaxException {
        Path classes =
                Paths.get(
                        ClusterJob.class
                                .getProtectionDomain()
                                .getCodeSource()
                                .getLocation()
                                .toURI());
        String dir = ClusterJob.class.getPackageName().replace('.', '/');
        Path jar = into.resolve("cluster-job.jar");
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
