package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.cli.doctor.JobStats.Checkpoint;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/** The output of {@code doctor diagnose}: text for people, JSON for machines. */
final class DiagnoseReport {

    /** The counters the text names: what the cause rules cite. */
    static final List<String> SHOWN =
            List.of(
                    "uploadsSucceeded",
                    "uploadsFailed",
                    "uploadRetries",
                    "failuresThrottled",
                    "failuresTransient",
                    "failuresPermanent",
                    "throttleSignals",
                    "throttleWaitMillis",
                    "throttleConcurrencyLimit",
                    "attemptTimeouts",
                    "deadlineExceeded",
                    "spillFallbacksNoSpace",
                    "spillFallbacksWriteFailed",
                    "spillFailures",
                    "metadataRetries",
                    "metadataWriteFailures");

    private final JobStats job;
    private final List<Cause> causes;
    private final long slowMs;

    DiagnoseReport(JobStats job, List<Cause> causes, long slowMs) {
        this.job = job;
        this.causes = causes;
        this.slowMs = slowMs;
    }

    /** A failed checkpoint was explained, or the job itself failed. */
    boolean failing() {
        return causes.stream().anyMatch(Cause::failing) || "FAILED".equals(job.state());
    }

    String text() {
        StringBuilder sb = new StringBuilder();
        long completed = job.checkpoints().stream().filter(Checkpoint::completed).count();
        long failed = job.checkpoints().stream().filter(Checkpoint::failed).count();
        sb.append(
                String.format(
                        "job %s '%s' %s: %d checkpoints in Flink's history (%d completed, %d failed);"
                                + " timeout %s, interval %s, slow from %s%n",
                        job.jobId(),
                        job.name(),
                        job.state(),
                        job.checkpoints().size(),
                        completed,
                        failed,
                        Diagnosis.ms(job.timeoutMs()),
                        Diagnosis.ms(job.intervalMs()),
                        Diagnosis.ms(slowMs)));
        if (job.counters().isEmpty()) {
            sb.append("our counters: not published by any TaskManager (they are with ")
                    .append(CheckpointingOptions.FILE_MERGING_ENABLED.key())
                    .append(": true; JMX has them always)")
                    .append(System.lineSeparator());
        } else {
            sb.append("our counters (all TaskManagers, since start; all of them with --json):");
            for (String name : SHOWN) {
                long v = job.counter(name);
                if (v != 0 && v != Long.MAX_VALUE) {
                    sb.append(' ').append(name).append('=').append(v);
                }
            }
            sb.append(System.lineSeparator());
        }
        for (Cause c : causes) {
            sb.append(
                    String.format(
                            "%-4s %s%s: %s%n     fix: %s%n",
                            c.failing() ? "FAIL" : "WARN",
                            c.checkpointId() >= 0 ? "checkpoint " + c.checkpointId() + " " : "",
                            c.kind().label(),
                            c.evidence(),
                            c.fix()));
        }
        if (causes.isEmpty()) {
            sb.append("OK   no failed or slow checkpoint in the history, state size not growing")
                    .append(System.lineSeparator());
        }
        Map<Cause.Kind, Long> byKind = new TreeMap<>();
        causes.forEach(c -> byKind.merge(c.kind(), 1L, Long::sum));
        sb.append("summary: ")
                .append(
                        byKind.isEmpty()
                                ? "healthy"
                                : byKind.entrySet().stream()
                                        .map(e -> e.getKey().label() + " x" + e.getValue())
                                        .reduce((a, b) -> a + ", " + b)
                                        .orElse(""));
        return sb.toString();
    }

    String json() {
        ObjectNode root = FlinkRest.JSON.createObjectNode();
        ObjectNode j = root.putObject("job");
        j.put("id", job.jobId())
                .put("name", job.name())
                .put("state", job.state())
                .put("timeoutMs", job.timeoutMs())
                .put("intervalMs", job.intervalMs())
                .put("unaligned", job.unaligned())
                .put("slowFromMs", slowMs);
        ArrayNode checkpoints = root.putArray("checkpoints");
        for (Checkpoint c : job.checkpoints()) {
            ObjectNode n =
                    checkpoints
                            .addObject()
                            .put("id", c.id())
                            .put("status", c.status())
                            .put("endToEndMs", c.endToEndMs())
                            .put("stateSize", c.stateSize())
                            .put("checkpointedSize", c.checkpointedSize());
            if (c.failureMessage() != null) {
                n.put("failureMessage", c.failureMessage());
            }
        }
        ObjectNode counters = root.putObject("counters");
        new TreeMap<>(job.counters()).forEach(counters::put);
        ArrayNode list = root.putArray("causes");
        for (Cause c : causes) {
            list.addObject()
                    .put("kind", c.kind().label())
                    .put("checkpoint", c.checkpointId())
                    .put("failing", c.failing())
                    .put("evidence", c.evidence())
                    .put("fix", c.fix());
        }
        root.put("failing", failing());
        return root.toPrettyString();
    }
}
