package io.github.resilientcheckpoints.demo;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.CheckpointStatsSnapshot;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.checkpoint.FailedCheckpointStats;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;
import org.apache.flink.util.SerializedThrowable;

/**
 * The demo's job: records 0, 1, 2, … keyed by {@code n % KEYS}. Every key holds how many of its
 * records it has seen and a payload derived from that count, so when record {@code n} arrives the
 * key must hold exactly {@code n / KEYS} — lost, stale or duplicated state after a restore is a
 * mismatch. The payload keeps each checkpoint well above the inline threshold, so state really
 * travels to S3. The MiniCluster runs in this JVM, so the checks are plain counters.
 */
final class DemoJob {

    static final int KEYS = 300;
    static final int PAYLOAD = 1024;

    static final AtomicLong RECORDS = new AtomicLong();
    static final AtomicLong MISMATCHES = new AtomicLong();

    /** Keys that found state of their own when their first record after a start arrived. */
    static final AtomicLong KEYS_WITH_STATE = new AtomicLong();

    private DemoJob() {}

    static void resetCounters() {
        RECORDS.set(0);
        MISMATCHES.set(0);
        KEYS_WITH_STATE.set(0);
    }

    static JobID submit(MiniCluster cluster, Configuration conf) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.fromSequence(0, Long.MAX_VALUE)
                .setParallelism(1)
                .map(new Throttle())
                .setParallelism(1)
                .keyBy(n -> n % KEYS)
                .process(new Check())
                .setParallelism(2)
                .sinkTo(new DiscardingSink<>());
        return cluster.submitJob(env.getStreamGraph().getJobGraph())
                .get(60, TimeUnit.SECONDS)
                .getJobID();
    }

    static CheckpointStatsSnapshot checkpoints(MiniCluster cluster, JobID job) throws Exception {
        return cluster.getExecutionGraph(job)
                .get(30, TimeUnit.SECONDS)
                .getCheckpointStatsSnapshot();
    }

    static long failedCheckpoints(MiniCluster cluster, JobID job) throws Exception {
        return checkpoints(cluster, job).getHistory().getCheckpoints().stream()
                .filter(c -> c instanceof FailedCheckpointStats)
                .count();
    }

    static String latestCheckpoint(MiniCluster cluster, JobID job) throws Exception {
        CompletedCheckpointStats latest =
                checkpoints(cluster, job).getHistory().getLatestCompletedCheckpoint();
        if (latest == null) {
            throw new IllegalStateException("job " + job + " has no completed checkpoint");
        }
        return latest.getExternalPath();
    }

    /**
     * Waits until the job has {@code count} completed checkpoints and has checked {@code records}
     * records.
     */
    static void await(MiniCluster cluster, JobID job, long count, long records) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            JobStatus status = cluster.getJobStatus(job).get(30, TimeUnit.SECONDS);
            if (status.isGloballyTerminalState()) {
                throw new IllegalStateException(
                        "job ended ("
                                + status
                                + "): "
                                + cluster.requestJobResult(job)
                                        .get(30, TimeUnit.SECONDS)
                                        .getSerializedThrowable()
                                        .map(DemoJob::causes)
                                        .orElse("")
                                + failedCheckpointMessages(cluster, job));
            }
            if (status == JobStatus.RUNNING
                    && RECORDS.get() >= records
                    && checkpoints(cluster, job).getCounts().getNumberOfCompletedCheckpoints()
                            >= count) {
                return;
            }
            if (System.nanoTime() > end) {
                throw new IllegalStateException(
                        "no " + count + " checkpoints / " + records + " records within 60 s");
            }
            Thread.sleep(50);
        }
    }

    /** Why each failed checkpoint failed, as the checkpoint history tells it. */
    private static String failedCheckpointMessages(MiniCluster cluster, JobID job) {
        StringBuilder text = new StringBuilder();
        try {
            for (var stats : checkpoints(cluster, job).getHistory().getCheckpoints()) {
                if (stats instanceof FailedCheckpointStats failed) {
                    text.append(System.lineSeparator())
                            .append("  checkpoint ")
                            .append(failed.getCheckpointId())
                            .append(" failed: ")
                            .append(failed.getFailureMessage());
                }
            }
        } catch (Exception e) {
            text.append(System.lineSeparator())
                    .append("  (checkpoint history not readable: ")
                    .append(e)
                    .append(')');
        }
        return text.toString();
    }

    /**
     * The failure and each of its causes, one per line: Flink's top-level message ("Recovery is
     * suppressed by NoRestartBackoffTimeStrategy") does not say why the job failed.
     */
    static String causes(Throwable failure) {
        StringBuilder text = new StringBuilder();
        Set<Throwable> seen = new HashSet<>();
        for (Throwable t = failure;
                t != null && seen.add(t) && seen.size() <= 20;
                t = t.getCause()) {
            if (text.length() > 0) {
                text.append(System.lineSeparator()).append("  caused by: ");
            }
            text.append(
                            t instanceof SerializedThrowable s
                                    ? s.getOriginalErrorClassName()
                                    : t.getClass().getName())
                    .append(": ")
                    .append(t.getMessage());
        }
        return text.toString();
    }

    static void cancel(MiniCluster cluster, JobID job) throws Exception {
        cluster.cancelJob(job).get(60, TimeUnit.SECONDS);
        cluster.requestJobResult(job).get(60, TimeUnit.SECONDS);
    }

    /** A few thousand records a second: enough to change every key between two checkpoints. */
    private static final class Throttle implements MapFunction<Long, Long> {
        @Override
        public Long map(Long n) throws Exception {
            if (n % 200 == 0) {
                Thread.sleep(2);
            }
            return n;
        }
    }

    private static final class Check extends KeyedProcessFunction<Long, Long, Long> {
        private transient ValueState<Long> seen;
        private transient ValueState<byte[]> payload;
        private transient Set<Long> started;

        @Override
        public void open(OpenContext context) {
            seen = getRuntimeContext().getState(new ValueStateDescriptor<>("seen", Types.LONG));
            payload =
                    getRuntimeContext()
                            .getState(
                                    new ValueStateDescriptor<>(
                                            "payload",
                                            PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
            started = new HashSet<>();
        }

        @Override
        public void processElement(Long n, Context context, Collector<Long> out) throws Exception {
            Long count = seen.value();
            long have = count == null ? 0 : count;
            if (started.add(context.getCurrentKey()) && count != null) {
                KEYS_WITH_STATE.incrementAndGet();
            }
            if (have != n / KEYS
                    || (count != null && !Arrays.equals(payload.value(), payloadFor(have)))) {
                MISMATCHES.incrementAndGet();
            }
            seen.update(have + 1);
            payload.update(payloadFor(have + 1));
            RECORDS.incrementAndGet();
        }

        private static byte[] payloadFor(long count) {
            byte[] bytes = new byte[PAYLOAD];
            Arrays.fill(bytes, (byte) count);
            return bytes;
        }
    }
}
