package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.cli.doctor.JobStats.Checkpoint;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Reads a job's checkpoint statistics and our counters from Flink's REST API (the endpoints the web
 * UI uses) into {@link JobStats}. One HTTP client per instance; it holds no threads of its own.
 */
public final class FlinkRest {

    /** Prefix of our gauges in a TaskManager's metric list (see FlinkMetricsBridge). */
    static final String METRIC_PREFIX = "resilientCheckpoints.";

    static final ObjectMapper JSON = new ObjectMapper();

    /** Answers a GET of a REST path (relative to the base URL, query included) with its JSON. */
    @FunctionalInterface
    public interface Source {
        JsonNode get(String path) throws IOException;
    }

    private final Source source;
    private final String base;

    /** Reads from a live REST endpoint. */
    public FlinkRest(String baseUrl, Duration requestTimeout) {
        this(new Http(baseUrl, requestTimeout), baseUrl);
    }

    /** Reads from any source, e.g. recorded answers. */
    public FlinkRest(Source source, String base) {
        this.source = source;
        this.base = base;
    }

    JsonNode get(String path) throws IOException {
        return source.get(path);
    }

    /** How often the details of a checkpoint are asked again when they belong to another job. */
    private static final int CROSSED_DETAILS_ATTEMPTS = 4;

    /**
     * The details of the checkpoint of {@code entry} (an entry of the job's checkpoint history), or
     * null when Flink keeps answering with another job's: its details handler, when its copy of the
     * job's statistics lacks that checkpoint, falls back to a cache keyed by the checkpoint number
     * alone and shared by every job of the cluster. The trigger time tells them apart; a newer copy
     * of the statistics comes with the handler's next refresh.
     */
    private JsonNode detailsOf(String jobId, JsonNode entry) throws IOException {
        String path = "/jobs/" + jobId + "/checkpoints/details/" + entry.path("id").asLong();
        long triggered = entry.path("trigger_timestamp").asLong();
        for (int attempt = 1; ; attempt++) {
            JsonNode details = get(path);
            if (details.path("trigger_timestamp").asLong() == triggered) {
                return details;
            }
            if (attempt == CROSSED_DETAILS_ATTEMPTS) {
                return null;
            }
            try {
                Thread.sleep(250L * attempt);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted while reading " + path);
            }
        }
    }

    /** An answer of HTTP 404: the resource (e.g. a checkpoint left the history) is not there. */
    public static final class NotFound extends IOException {
        private static final long serialVersionUID = 1L;

        public NotFound(String message) {
            super(message);
        }
    }

    /** The live endpoint, over one {@link HttpClient}. */
    static final class Http implements Source {
        private final String base;
        private final HttpClient http;
        private final Duration requestTimeout;

        Http(String baseUrl, Duration requestTimeout) {
            this.base =
                    baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
            this.requestTimeout = requestTimeout;
            this.http = HttpClient.newBuilder().connectTimeout(requestTimeout).build();
        }

        @Override
        public JsonNode get(String path) throws IOException {
            URI uri = URI.create(base + path);
            HttpRequest request =
                    HttpRequest.newBuilder(uri)
                            .timeout(requestTimeout)
                            .header("Accept", "application/json")
                            .GET()
                            .build();
            HttpResponse<String> response;
            try {
                response = http.send(request, HttpResponse.BodyHandlers.ofString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while reading " + uri);
            } catch (IOException e) {
                throw new IOException(
                        "cannot reach Flink's REST API at "
                                + uri
                                + ": "
                                + e
                                + " (is the JobManager's rest.address/rest.port right and reachable?)",
                        e);
            }
            if (response.statusCode() == 404) {
                throw new NotFound("GET " + uri + " answered HTTP 404");
            }
            if (response.statusCode() != 200) {
                String body =
                        response.body() == null ? "" : response.body().replaceAll("\\s+", " ");
                throw new IOException(
                        "GET "
                                + uri
                                + " answered HTTP "
                                + response.statusCode()
                                + ": "
                                + (body.length() > 300 ? body.substring(0, 300) + "..." : body));
            }
            return JSON.readTree(response.body());
        }
    }

    /**
     * The job to diagnose when none is named: the only running one, else the most recently started.
     */
    public String pickJob() throws IOException {
        JsonNode jobs = get("/jobs/overview").path("jobs");
        List<JsonNode> running = new ArrayList<>();
        JsonNode latest = null;
        for (JsonNode job : jobs) {
            if ("RUNNING".equals(job.path("state").asText())) {
                running.add(job);
            }
            if (latest == null
                    || job.path("start-time").asLong() > latest.path("start-time").asLong()) {
                latest = job;
            }
        }
        if (running.size() == 1) {
            return running.get(0).path("jid").asText();
        }
        if (running.size() > 1) {
            StringBuilder sb = new StringBuilder("several jobs are running; name one:");
            for (JsonNode job : running) {
                sb.append("\n  ")
                        .append(job.path("jid").asText())
                        .append("  ")
                        .append(job.path("name").asText());
            }
            throw new IllegalArgumentException(sb.toString());
        }
        if (latest == null) {
            throw new IllegalArgumentException("no job on " + base);
        }
        return latest.path("jid").asText();
    }

    /** Everything the rules need about one job. */
    public JobStats read(String jobId) throws IOException {
        JsonNode job = get("/jobs/" + jobId);
        Map<String, String> vertexNames = new LinkedHashMap<>();
        for (JsonNode v : job.path("vertices")) {
            vertexNames.put(v.path("id").asText(), v.path("name").asText());
        }
        JsonNode config = get("/jobs/" + jobId + "/checkpoints/config");
        JsonNode overview = get("/jobs/" + jobId + "/checkpoints");
        List<Checkpoint> checkpoints = new ArrayList<>();
        for (JsonNode entry : overview.path("history")) {
            long id = entry.path("id").asLong();
            if ("IN_PROGRESS".equals(entry.path("status").asText())) {
                continue;
            }
            try {
                JsonNode details = detailsOf(jobId, entry);
                if (details == null) {
                    continue; // only another job's checkpoint of that number was answered
                }
                Map<String, JsonNode> subtasks = new LinkedHashMap<>();
                for (Iterator<String> it = details.path("tasks").fieldNames(); it.hasNext(); ) {
                    String vertex = it.next();
                    subtasks.put(
                            vertex,
                            get(
                                    "/jobs/"
                                            + jobId
                                            + "/checkpoints/details/"
                                            + id
                                            + "/subtasks/"
                                            + vertex));
                }
                checkpoints.add(StatsParser.checkpoint(details, subtasks, vertexNames));
            } catch (NotFound e) {
                // it left Flink's bounded history while we read
            }
        }
        checkpoints.sort((a, b) -> Long.compare(a.id(), b.id()));
        return new JobStats(
                jobId,
                job.path("name").asText(),
                job.path("state").asText(),
                config.path("timeout").asLong(),
                config.path("interval").asLong(),
                config.path("unaligned_checkpoints").asBoolean(),
                checkpoints,
                counters());
    }

    /** Our counters, summed over every TaskManager that publishes them. */
    Map<String, Long> counters() throws IOException {
        Map<String, Long> sums = new LinkedHashMap<>();
        for (JsonNode tm : get("/taskmanagers").path("taskmanagers")) {
            String id = URLEncoder.encode(tm.path("id").asText(), StandardCharsets.UTF_8);
            List<String> ours = new ArrayList<>();
            for (JsonNode metric : get("/taskmanagers/" + id + "/metrics")) {
                String name = metric.path("id").asText();
                if (name.startsWith(METRIC_PREFIX)) {
                    ours.add(name);
                }
            }
            if (ours.isEmpty()) {
                continue;
            }
            JsonNode values =
                    get(
                            "/taskmanagers/"
                                    + id
                                    + "/metrics?get="
                                    + URLEncoder.encode(
                                            String.join(",", ours), StandardCharsets.UTF_8));
            StatsParser.addCounters(values, sums);
        }
        return sums;
    }
}
