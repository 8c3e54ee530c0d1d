package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.cli.doctor.JobStats.Checkpoint;
import io.github.resilientcheckpoints.cli.doctor.JobStats.Subtask;
import io.github.resilientcheckpoints.cli.doctor.JobStats.Vertex;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/**
 * Flink's checkpoint statistics JSON (the REST API's field names) into {@link JobStats} records.
 */
final class StatsParser {

    /** Gauges that are limits: the smallest over the TaskManagers is reported, not the sum. */
    static final Set<String> MINIMUM =
            Set.of("throttleConcurrencyLimit", "throttleRateBytesPerSecond");

    private StatsParser() {}

    /**
     * @param details {@code /jobs/:id/checkpoints/details/:cid}
     * @param subtasks per vertex id, {@code .../details/:cid/subtasks/:vid}
     * @param vertexNames vertex id to name, from {@code /jobs/:id}
     */
    static Checkpoint checkpoint(
            JsonNode details, Map<String, JsonNode> subtasks, Map<String, String> vertexNames) {
        List<Vertex> vertices = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : subtasks.entrySet()) {
            List<Subtask> list = new ArrayList<>();
            for (JsonNode s : e.getValue().path("subtasks")) {
                boolean acked = "completed".equalsIgnoreCase(s.path("status").asText());
                list.add(
                        new Subtask(
                                s.path("index").asInt(),
                                acked,
                                s.path("end_to_end_duration").asLong(),
                                s.path("start_delay").asLong(),
                                s.path("alignment").path("duration").asLong(),
                                s.path("checkpoint").path("sync").asLong(),
                                s.path("checkpoint").path("async").asLong(),
                                s.path("checkpointed_size").asLong()));
            }
            vertices.add(
                    new Vertex(e.getKey(), vertexNames.getOrDefault(e.getKey(), e.getKey()), list));
        }
        JsonNode message = details.get("failure_message");
        JsonNode external = details.get("external_path");
        return new Checkpoint(
                details.path("id").asLong(),
                details.path("status").asText(),
                details.path("is_savepoint").asBoolean(),
                details.path("end_to_end_duration").asLong(),
                details.path("state_size").asLong(),
                details.path("checkpointed_size").asLong(),
                message == null || message.isNull() ? null : message.asText(),
                external == null || external.isNull() ? null : external.asText(),
                vertices);
    }

    private static long saturatingAdd(long a, long b) {
        long sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
    }

    /**
     * Adds {@code [{"id": "resilientCheckpoints.x", "value": "3"}, ...]} to the sums, by short
     * name.
     */
    static void addCounters(JsonNode values, Map<String, Long> sums) {
        for (JsonNode metric : values) {
            String name = metric.path("id").asText();
            if (!name.startsWith(FlinkRest.METRIC_PREFIX)) {
                continue;
            }
            try {
                long value = Long.parseLong(metric.path("value").asText());
                String shortName = name.substring(FlinkRest.METRIC_PREFIX.length());
                // a limit is as tight as the tightest TaskManager's; counts add up
                sums.merge(
                        shortName,
                        value,
                        MINIMUM.contains(shortName) ? Math::min : StatsParser::saturatingAdd);
            } catch (NumberFormatException e) {
                // a gauge with no value yet (or not a number): not evidence of anything
            }
        }
    }
}
