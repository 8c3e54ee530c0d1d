package io.github.resilientcheckpoints.cli.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

/**
 * Flink's REST handler for one checkpoint's details falls back, when its copy of the job's
 * statistics does not have that checkpoint yet, to a cache keyed by the checkpoint's number alone,
 * shared by every job of the cluster: on a session cluster it can answer with another job's
 * checkpoint of the same number. The reader must notice and not diagnose the wrong job.
 */
class FlinkRestTest {

    @Test
    void checkpointDetailsOfAnotherJobAreNotTakenForThisJobs() throws Exception {
        RecordedRest recorded = RecordedRest.replay("/doctor/healthy.json");
        String jobPath = recorded.firstJobPath();
        JobStats truth = new FlinkRest(recorded, "recorded").read(jobPath);
        long newest = truth.checkpoints().get(truth.checkpoints().size() - 1).id();

        // Another job's checkpoint of the same number: another trigger time, another outcome.
        FlinkRest.Source crossed =
                path -> {
                    JsonNode answer = recorded.get(path);
                    if (path.endsWith("/checkpoints/details/" + newest)) {
                        ObjectNode other = answer.deepCopy();
                        other.put(
                                "trigger_timestamp",
                                answer.path("trigger_timestamp").asLong() - 60_000);
                        other.put("status", "FAILED");
                        other.put("failure_message", "Checkpoint expired before completing.");
                        return other;
                    }
                    return answer;
                };
        JobStats read = new FlinkRest(crossed, "recorded").read(jobPath);

        assertThat(read.checkpoints())
                .as("only this job's checkpoints")
                .extracting(JobStats.Checkpoint::id)
                .doesNotContain(newest)
                .hasSize(truth.checkpoints().size() - 1);
    }
}
