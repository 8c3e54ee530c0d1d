package io.github.resilientcheckpoints.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.FlinkMetricsBridge;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The storage's counters in Flink's own metric system (seen by a real metric reporter), reached
 * through the one SPI path that carries a metric group: file merging enabled.
 */
class FlinkMetricsIT {

    static final InMemoryReporter REPORTER = InMemoryReporter.createWithRetainedMetrics();

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER =
            new MiniClusterExtension(
                    new MiniClusterResourceConfiguration.Builder()
                            .setNumberTaskManagers(1)
                            .setNumberSlotsPerTaskManager(4)
                            .setConfiguration(REPORTER.addToConfiguration(new Configuration()))
                            .build());

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @TempDir Path checkpoints;
    @TempDir Path spill;

    @Test
    void countersAppearUnderTheTaskManagerGroupAndStateStaysExact(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(),
                        "rocksdb",
                        checkpoints.toUri().toString());
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        conf.set(CheckpointingOptions.FILE_MERGING_ENABLED, true);

        CountingJob.resetCounters();
        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 3);
        CountingJob.cancel(cluster, job);
        // Read after the cancel: a checkpoint completing meanwhile would subsume an earlier pick.
        String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
        assertThat(CountingJob.MISMATCHES.get()).isZero();

        Map<String, Metric> ours = null;
        String identifier = null;
        for (Map.Entry<MetricGroup, Map<String, Metric>> e :
                REPORTER.getMetricsByGroup().entrySet()) {
            String id = e.getKey().getMetricIdentifier("uploadsSucceeded");
            if (id.endsWith("." + FlinkMetricsBridge.GROUP + ".uploadsSucceeded")) {
                ours = e.getValue();
                identifier = id;
            }
        }
        assertThat(ours)
                .as("a '%s' metric group was reported", FlinkMetricsBridge.GROUP)
                .isNotNull();
        // on the TaskManager's group, not per task or job: the counters are per JVM
        assertThat(identifier).contains(".taskmanager.").doesNotContain("counting-job");
        assertThat(ours)
                .containsKeys(
                        "uploadsSucceeded",
                        "uploadRetries",
                        "bytesUploaded",
                        "spillBytes",
                        "failuresThrottled",
                        "failuresTransient",
                        "failuresPermanent");
        assertThat((Long) ((Gauge<?>) ours.get("uploadsSucceeded")).getValue()).isPositive();
        assertThat((Long) ((Gauge<?>) ours.get("bytesUploaded")).getValue()).isPositive();

        // the merging flag changed nothing about what was written: our checkpoint restores exactly
        CountingJob.verifyRestore(cluster, conf, checkpoint, CountingJob.PAYLOAD_BYTES);
    }
}
