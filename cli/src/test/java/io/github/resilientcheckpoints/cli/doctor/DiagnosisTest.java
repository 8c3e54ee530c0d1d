package io.github.resilientcheckpoints.cli.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.cli.doctor.Cause.Kind;
import io.github.resilientcheckpoints.cli.doctor.JobStats.Checkpoint;
import io.github.resilientcheckpoints.cli.doctor.JobStats.Subtask;
import io.github.resilientcheckpoints.cli.doctor.JobStats.Vertex;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The cause rules, first on REST answers recorded from {@link DiagnoseIT}'s engineered jobs (read
 * through the same {@link FlinkRest} code), then on hand-made statistics for the edges.
 */
class DiagnosisTest {

    private static JobStats recorded(String name) throws Exception {
        RecordedRest rest = RecordedRest.replay("/doctor/" + name + ".json");
        String jobPath = rest.firstJobPath();
        return new FlinkRest(rest, "recorded").read(jobPath);
    }

    private static List<Kind> kinds(JobStats job, Duration slow) {
        return new Diagnosis(slow)
                .causes(job).stream().map(Cause::kind).distinct().collect(Collectors.toList());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "healthy,           5 s,  ''",
        "store-throttled,   1 s,  STORE_SLOW",
        "skew-backpressure, 1 s,  BARRIER_DELAY",
        "state-growth,      '',   STATE_GROWTH",
        "timeout-too-short, '',   TIMEOUT_TOO_SHORT",
        "store-refusing,    '',   STORE_REFUSING",
    })
    void recordedJobsGetTheirCauseAndNoOther(String name, String slow, String expected)
            throws Exception {
        JobStats job = recorded(name);
        List<Kind> kinds =
                kinds(
                        job,
                        slow == null || slow.isEmpty()
                                ? null
                                : Duration.ofSeconds(Long.parseLong(slow.replace(" s", ""))));
        assertThat(kinds)
                .containsExactlyElementsOf(
                        expected.isEmpty() ? List.of() : List.of(Kind.valueOf(expected)));
    }

    @Test
    void recordedReportsReadForPeopleAndMachines() throws Exception {
        JobStats job = recorded("store-refusing");
        List<Cause> causes = new Diagnosis(null).causes(job);
        DiagnoseReport report = new DiagnoseReport(job, causes, job.timeoutMs() / 2);
        assertThat(report.failing()).isTrue();
        assertThat(report.text())
                .contains("FAIL checkpoint")
                .contains("store-refusing")
                .contains("fix: make ");
        assertThat(
                        FlinkRest.JSON
                                .readTree(report.json())
                                .path("causes")
                                .get(0)
                                .path("kind")
                                .asText())
                .isEqualTo("store-refusing");
        JobStats healthy = recorded("healthy");
        DiagnoseReport ok = new DiagnoseReport(healthy, new Diagnosis(null).causes(healthy), 1000);
        assertThat(ok.failing()).isFalse();
        assertThat(ok.text()).contains("summary: healthy");
    }

    // ------------------------------------------------------------------ hand-made edges

    private static Subtask sub(int index, long startDelay, long sync, long async) {
        return new Subtask(
                index, true, startDelay + sync + async + 2, startDelay, 0, sync, async, 1000);
    }

    private static Checkpoint checkpoint(
            long id, String status, long e2e, String message, Subtask... subtasks) {
        return new Checkpoint(
                id,
                status,
                false,
                e2e,
                10_000,
                2_000,
                message,
                null,
                List.of(new Vertex("v", "window", List.of(subtasks))));
    }

    private static JobStats job(
            long timeoutMs, Map<String, Long> counters, Checkpoint... checkpoints) {
        return new JobStats(
                "j", "job", "RUNNING", timeoutMs, 1000, false, List.of(checkpoints), counters);
    }

    @Test
    void oneSubtaskFarBehindIsSkewAndAllBehindIsBackpressure() {
        JobStats skew =
                job(
                        600_000,
                        Map.of(),
                        checkpoint(
                                1,
                                "COMPLETED",
                                5000,
                                null,
                                sub(0, 20, 1, 1),
                                sub(1, 4900, 1, 1),
                                sub(2, 30, 1, 1)));
        Cause c = new Diagnosis(Duration.ofSeconds(1)).causes(skew).get(0);
        assertThat(c.kind()).isEqualTo(Kind.BARRIER_DELAY);
        assertThat(c.evidence()).contains("skew").contains("window #1");
        assertThat(c.fix()).isEqualTo("execution.checkpointing.unaligned.enabled: true");

        JobStats all =
                job(
                        600_000,
                        Map.of(),
                        checkpoint(
                                1,
                                "COMPLETED",
                                5000,
                                null,
                                sub(0, 4000, 1, 1),
                                sub(1, 4900, 1, 1),
                                sub(2, 4500, 1, 1)));
        Cause b = new Diagnosis(Duration.ofSeconds(1)).causes(all).get(0);
        assertThat(b.kind()).isEqualTo(Kind.BARRIER_DELAY);
        assertThat(b.evidence()).contains("backpressure").doesNotContain("skew");
    }

    @Test
    void asyncDominatingIsTheStoreWithCountersAsEvidence() {
        JobStats slow =
                job(
                        600_000,
                        Map.of(
                                "uploadRetries",
                                40L,
                                "failuresThrottled",
                                35L,
                                "throttleConcurrencyLimit",
                                16L),
                        checkpoint(
                                1,
                                "COMPLETED",
                                8000,
                                null,
                                sub(0, 10, 5, 7900),
                                sub(1, 10, 5, 300)));
        Cause c = new Diagnosis(Duration.ofSeconds(1)).causes(slow).get(0);
        assertThat(c.kind()).isEqualTo(Kind.STORE_SLOW);
        assertThat(c.evidence())
                .contains("async (upload) phase 7900 ms")
                .contains("failuresThrottled 35");
        assertThat(c.fix())
                .startsWith("execution.checkpointing.resilient.throttle.max-concurrent-uploads: 8");
    }

    @Test
    void syncDominatingIsTheSnapshot() {
        JobStats slow =
                job(
                        600_000,
                        Map.of(),
                        checkpoint(1, "COMPLETED", 3000, null, sub(0, 10, 2900, 50)));
        assertThat(kinds(slow, Duration.ofSeconds(1))).containsExactly(Kind.SNAPSHOT_SLOW);
    }

    @Test
    void noRoomOnLocalDisksIsNamed() {
        JobStats disk =
                job(
                        600_000,
                        Map.of("spillFailures", 3L),
                        checkpoint(
                                1,
                                "FAILED",
                                900,
                                "Asynchronous task checkpoint failed. java.io.IOException: No space left on device",
                                sub(0, 10, 5, 5)));
        Cause c = new Diagnosis(null).causes(disk).get(0);
        assertThat(c.kind()).isEqualTo(Kind.LOCAL_DISK);
        assertThat(c.failing()).isTrue();
        assertThat(c.evidence()).contains("spillFailures 3");
        assertThat(c.fix()).startsWith("execution.checkpointing.resilient.spill.directories");
    }

    @Test
    void accessDeniedNamesThePath() {
        JobStats refused =
                job(
                        600_000,
                        Map.of(),
                        checkpoint(
                                4,
                                "FAILED",
                                120,
                                "java.nio.file.AccessDeniedException: s3://bucket/ckpt/job/chk-4/_metadata: 403 Forbidden"));
        Cause c = new Diagnosis(null).causes(refused).get(0);
        assertThat(c.kind()).isEqualTo(Kind.STORE_REFUSING);
        assertThat(c.fix()).contains("s3://bucket/ckpt/job/chk-4/_metadata");
    }

    @Test
    void aFinalizeFailureAtTheDeadlineIsTimeAndBeforeItIsTheStore() {
        JobStats atDeadline =
                job(
                        1000,
                        Map.of(),
                        checkpoint(1, "COMPLETED", 700, null, sub(0, 5, 5, 600)),
                        checkpoint(2, "FAILED", 950, "Failure to finalize checkpoint."));
        List<Cause> causes = new Diagnosis(null).causes(atDeadline);
        assertThat(causes)
                .extracting(Cause::kind)
                .containsOnly(Kind.TIMEOUT_TOO_SHORT, Kind.STORE_SLOW);
        assertThat(causes)
                .filteredOn(c -> c.checkpointId() == 2)
                .singleElement()
                .satisfies(c -> assertThat(c.kind()).isEqualTo(Kind.TIMEOUT_TOO_SHORT));

        JobStats early =
                job(
                        600_000,
                        Map.of(),
                        checkpoint(2, "FAILED", 30, "Failure to finalize checkpoint."));
        assertThat(kinds(early, null)).containsExactly(Kind.STORE_REFUSING);
    }

    @Test
    void expiryWithNothingOutOfLineIsTheTimeoutWithALargerValue() {
        JobStats expired =
                job(
                        10_000,
                        Map.of(),
                        checkpoint(1, "COMPLETED", 6000, null, sub(0, 100, 100, 100)),
                        checkpoint(
                                2,
                                "FAILED",
                                10_000,
                                "Checkpoint expired before completing.",
                                sub(0, 100, 100, 100)));
        List<Cause> causes = new Diagnosis(null).causes(expired);
        assertThat(causes).extracting(Cause::kind).containsOnly(Kind.TIMEOUT_TOO_SHORT);
        assertThat(causes.get(1).fix()).isEqualTo("execution.checkpointing.timeout: 1 min");
        assertThat(Diagnosis.suggestTimeout(100_000)).isEqualTo("5 min");
    }

    @Test
    void growthNeedsARiseInEveryCheckpoint() {
        List<Checkpoint> rising = new ArrayList<>();
        List<Checkpoint> wobbling = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            rising.add(
                    new Checkpoint(
                            i,
                            "COMPLETED",
                            false,
                            50,
                            1000L * (i + 1),
                            1000L * (i + 1),
                            null,
                            null,
                            List.of()));
            wobbling.add(
                    new Checkpoint(
                            i,
                            "COMPLETED",
                            false,
                            50,
                            i == 3 ? 1000 : 1000L * (i + 1),
                            100,
                            null,
                            null,
                            List.of()));
        }
        JobStats grows =
                new JobStats("j", "job", "RUNNING", 600_000, 1000, false, rising, Map.of());
        assertThat(kinds(grows, null)).containsExactly(Kind.STATE_GROWTH);
        assertThat(new Diagnosis(null).causes(grows).get(0).fix())
                .startsWith("execution.checkpointing.incremental");
        JobStats stable =
                new JobStats("j", "job", "RUNNING", 600_000, 1000, false, wobbling, Map.of());
        assertThat(kinds(stable, null)).isEmpty();
    }

    @Test
    void fastCompletedCheckpointsAreNotLookedAt() {
        JobStats fine =
                job(
                        600_000,
                        Map.of("failuresThrottled", 1000L),
                        checkpoint(1, "COMPLETED", 900, null, sub(0, 10, 5, 880)));
        assertThat(kinds(fine, Duration.ofSeconds(1))).isEmpty();
    }
}
