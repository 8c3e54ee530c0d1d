package io.github.resilientcheckpoints.cli.doctor;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * REST answers by path: recorded from a live endpoint (one JSON object, path to answer) and
 * replayed in unit tests, so the cause rules run on what Flink really sent.
 */
final class RecordedRest implements FlinkRest.Source {

    private final FlinkRest.Source live;
    private final Map<String, JsonNode> answers = new LinkedHashMap<>();

    private RecordedRest(FlinkRest.Source live) {
        this.live = live;
    }

    /** Passes every GET to {@code live} and keeps the answers. */
    static RecordedRest recording(FlinkRest.Source live) {
        return new RecordedRest(live);
    }

    /** Replays a recording from the test classpath. */
    static RecordedRest replay(String resource) throws IOException {
        RecordedRest rest = new RecordedRest(null);
        try (InputStream in = RecordedRest.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("no recording " + resource);
            }
            JsonNode root = FlinkRest.JSON.readTree(in);
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                rest.answers.put(e.getKey(), e.getValue());
            }
        }
        return rest;
    }

    /** The id of the job the recording is about (its first answer is {@code /jobs/<id>}). */
    String firstJobPath() {
        return answers.keySet().iterator().next().substring("/jobs/".length());
    }

    @Override
    public JsonNode get(String path) throws IOException {
        if (live == null) {
            JsonNode answer = answers.get(path);
            if (answer == null) {
                // Recording keeps every answer that came; any error but a 404 (a checkpoint that
                // left
                // Flink's history while it was read) failed the recorded run instead.
                throw new FlinkRest.NotFound("not recorded (HTTP 404 when recorded): GET " + path);
            }
            return answer;
        }
        JsonNode answer = live.get(path);
        answers.put(path, answer);
        return answer;
    }

    void save(Path file) throws IOException {
        ObjectNode root = FlinkRest.JSON.createObjectNode();
        answers.forEach(root::set);
        Files.createDirectories(file.getParent());
        Files.writeString(
                file, FlinkRest.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
    }
}
