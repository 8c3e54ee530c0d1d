package io.github.resilientcheckpoints.metrics;

import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;

/**
 * Publishes a runtime's counters in Flink's metric system, under {@code
 * <group>.resilientCheckpoints}, once per group. Flink hands a checkpoint storage a metric group on
 * exactly one path: {@code toFileMergingStorage(manager, environment)}, called for every task when
 * file merging is enabled; the storage uses the TaskManager's group from there (see
 * docs/metrics.md).
 */
public final class FlinkMetricsBridge {

    public static final String GROUP = "resilientCheckpoints";

    private static final Set<MetricGroup> REGISTERED =
            Collections.newSetFromMap(new WeakHashMap<>());

    private FlinkMetricsBridge() {}

    /**
     * Registers a gauge per counter under {@code group.resilientCheckpoints}; idempotent per group.
     */
    public static void register(MetricGroup group, StorageMetrics metrics) {
        synchronized (REGISTERED) {
            if (!REGISTERED.add(group)) {
                return;
            }
        }
        MetricGroup ours = group.addGroup(GROUP);
        for (String name : metrics.snapshot().keySet()) {
            ours.gauge(
                    name,
                    (Gauge<Long>)
                            () -> {
                                Map<String, Long> snapshot = metrics.snapshot();
                                return snapshot.getOrDefault(name, 0L);
                            });
        }
    }
}
