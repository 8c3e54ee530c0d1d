package io.github.resilientcheckpoints.testing;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.runtime.checkpoint.CheckpointFailureReason;
import org.apache.flink.runtime.checkpoint.CheckpointStatsSnapshot;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.checkpoint.FailedCheckpointStats;
import org.apache.flink.runtime.execution.ExecutionState;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

/**
 * A keyed job whose state is checkable after any restore: an ordered sequence 0, 1, 2, … keyed by
 * {@code n % KEYS}; each key's counter must equal {@code n / KEYS} when record {@code n} arrives,
 * so lost, duplicated or stale state shows up as a mismatch. Each key also carries a payload
 * (checked byte for byte after a restore), so snapshots are well above the inline threshold; the
 * counters change with every record, so RocksDB writes new files each checkpoint.
 */
public final class CountingJob {

    public static final int KEYS = 400;
    public static final int PAYLOAD_BYTES = 512;

    /** Counters of the running job (the MiniCluster runs in this JVM). */
    public static final AtomicLong CHECKED = new AtomicLong();

    public static final AtomicLong MISMATCHES = new AtomicLong();
    public static final AtomicLong RESTORED_KEYS = new AtomicLong();

    private CountingJob() {}

    public static void resetCounters() {
        CHECKED.set(0);
        MISMATCHES.set(0);
        RESTORED_KEYS.set(0);
    }

    /** Job configuration for the given storage, backend and checkpoint directory. */
    public static Configuration config(String storage, String backend, String checkpointDir) {
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, storage);
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpointDir);
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(200));
        conf.set(
                CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION,
                ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 3);
        conf.set(StateBackendOptions.STATE_BACKEND, backend);
        if ("rocksdb".equals(backend)) {
            conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        }
        // Any failed checkpoint or failover fails the job: tests see it instead of a silent
        // restart.
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 0);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        return conf;
    }

    public static Configuration restoringFrom(Configuration base, String checkpointPath) {
        Configuration conf = new Configuration(base);
        conf.set(StateRecoveryOptions.SAVEPOINT_PATH, checkpointPath);
        return conf;
    }

    /** Submits the job with this configuration to the cluster. */
    public static JobID start(MiniCluster cluster, Configuration conf) throws Exception {
        return start(cluster, conf, PAYLOAD_BYTES);
    }

    /** Submits the job; every key carries a payload of {@code payloadBytes} in its state. */
    public static JobID start(MiniCluster cluster, Configuration conf, int payloadBytes)
            throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.fromSequence(0, Long.MAX_VALUE)
                .name("sequence")
                .setParallelism(1)
                .map(new Pacer())
                .setParallelism(1)
                .keyBy(n -> n % KEYS)
                .process(new Verifier(payloadBytes))
                .setParallelism(2)
                .sinkTo(new DiscardingSink<>());
        JobGraph graph = env.getStreamGraph().getJobGraph();
        return cluster.submitJob(graph).get(60, TimeUnit.SECONDS).getJobID();
    }

    public static CheckpointStatsSnapshot stats(MiniCluster cluster, JobID job) throws Exception {
        return cluster.getExecutionGraph(job)
                .get(30, TimeUnit.SECONDS)
                .getCheckpointStatsSnapshot();
    }

    /** Waits until {@code count} more checkpoints than {@code already} have completed. */
    public static void awaitCompletedCheckpoints(MiniCluster cluster, JobID job, long count)
            throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < end) {
            JobStatus status = cluster.getJobStatus(job).get(30, TimeUnit.SECONDS);
            if (status.isTerminalState()) {
                Throwable cause =
                        cluster.requestJobResult(job)
                                .get(30, TimeUnit.SECONDS)
                                .getSerializedThrowable()
                                .map(t -> (Throwable) t)
                                .orElse(null);
                throw new AssertionError(
                        "job ended while waiting for checkpoints: " + status, cause);
            }
            if (status == JobStatus.RUNNING
                    && stats(cluster, job).getCounts().getNumberOfCompletedCheckpoints() >= count) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("fewer than " + count + " checkpoints completed in 90 s");
    }

    /**
     * Waits until the verifier has checked {@code records} records, failing with the job's error if
     * it ends.
     */
    public static void awaitChecked(MiniCluster cluster, JobID job, long records) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (CHECKED.get() < records && System.nanoTime() < end) {
            JobStatus status = cluster.getJobStatus(job).get(30, TimeUnit.SECONDS);
            if (status.isTerminalState()) {
                Throwable cause =
                        cluster.requestJobResult(job)
                                .get(30, TimeUnit.SECONDS)
                                .getSerializedThrowable()
                                .map(t -> (Throwable) t)
                                .orElse(null);
                throw new AssertionError(
                        "job ended ("
                                + status
                                + ") after "
                                + CHECKED.get()
                                + " records, wanted "
                                + records,
                        cause);
            }
            Thread.sleep(20);
        }
        if (CHECKED.get() < records) {
            throw new AssertionError(
                    "only "
                            + CHECKED.get()
                            + " records checked, wanted "
                            + records
                            + "; job status "
                            + cluster.getJobStatus(job).get(30, TimeUnit.SECONDS));
        }
    }

    /**
     * Restores the job from {@code checkpoint}, lets it check {@code 3 x KEYS} records and complete
     * a checkpoint, cancels it, and fails unless every key came back with exactly the right state.
     */
    public static void verifyRestore(
            MiniCluster cluster, Configuration conf, String checkpoint, int payloadBytes)
            throws Exception {
        resetCounters();
        JobID restored = start(cluster, restoringFrom(conf, checkpoint), payloadBytes);
        awaitChecked(cluster, restored, 3L * KEYS);
        awaitCompletedCheckpoints(cluster, restored, 1);
        cancel(cluster, restored);
        if (MISMATCHES.get() != 0 || RESTORED_KEYS.get() != KEYS) {
            throw new AssertionError(
                    "restore from "
                            + checkpoint
                            + ": "
                            + MISMATCHES.get()
                            + " mismatches, "
                            + RESTORED_KEYS.get()
                            + " of "
                            + KEYS
                            + " keys came back with their state");
        }
    }

    /**
     * Failure messages of the job's failed checkpoints (empty when none failed). Once the job has
     * ended, a checkpoint after its last completed one that the end aborted ("Checkpoint
     * Coordinator is suspending.", as a cancel does to the checkpoint in progress) is not counted:
     * whether one is in progress at the cancel is timing, not the storage.
     */
    public static List<String> failureMessages(MiniCluster cluster, JobID job) throws Exception {
        boolean ended =
                cluster.getJobStatus(job).get(30, TimeUnit.SECONDS).isGloballyTerminalState();
        CheckpointStatsSnapshot stats = stats(cluster, job);
        CompletedCheckpointStats latest = stats.getHistory().getLatestCompletedCheckpoint();
        long lastCompleted = latest == null ? 0 : latest.getCheckpointId();
        List<String> messages = new ArrayList<>();
        for (var c : stats.getHistory().getCheckpoints()) {
            if (c instanceof FailedCheckpointStats) {
                String message = ((FailedCheckpointStats) c).getFailureMessage();
                boolean abortedByTheEnd =
                        ended
                                && c.getCheckpointId() > lastCompleted
                                && (CheckpointFailureReason.CHECKPOINT_COORDINATOR_SUSPEND
                                                .message()
                                                .equals(message)
                                        || CheckpointFailureReason.CHECKPOINT_COORDINATOR_SHUTDOWN
                                                .message()
                                                .equals(message));
                if (!abortedByTheEnd) {
                    messages.add(c.getCheckpointId() + ": " + message);
                }
            }
        }
        return messages;
    }

    public static String latestCheckpointPath(MiniCluster cluster, JobID job) throws Exception {
        CompletedCheckpointStats latest =
                stats(cluster, job).getHistory().getLatestCompletedCheckpoint();
        if (latest == null) {
            throw new AssertionError("no completed checkpoint");
        }
        return latest.getExternalPath();
    }

    /**
     * Triggers a checkpoint and returns its path, once every task of the job runs: Flink refuses a
     * checkpoint while a task is still deploying or restoring ("Not all required tasks are
     * currently running"), which a loaded machine makes last seconds after the first records flow.
     */
    public static String triggerCheckpoint(MiniCluster cluster, JobID job) throws Exception {
        awaitAllTasksRunning(cluster, job);
        return cluster.triggerCheckpoint(job).get(60, TimeUnit.SECONDS);
    }

    /** Waits, at most 60 s, until every task of the job is RUNNING. */
    public static void awaitAllTasksRunning(MiniCluster cluster, JobID job) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        List<String> notRunning = List.of();
        while (System.nanoTime() < end) {
            AccessExecutionGraph graph = cluster.getExecutionGraph(job).get(30, TimeUnit.SECONDS);
            if (graph.getState().isTerminalState()) {
                throw new AssertionError(
                        "job ended (" + graph.getState() + ") before all its tasks ran");
            }
            notRunning = new ArrayList<>();
            for (AccessExecutionVertex v : graph.getAllExecutionVertices()) {
                if (v.getExecutionState() != ExecutionState.RUNNING) {
                    notRunning.add(v.getTaskNameWithSubtaskIndex() + ": " + v.getExecutionState());
                }
            }
            if (notRunning.isEmpty()) {
                return;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("tasks not running after 60 s: " + notRunning);
    }

    public static void cancel(MiniCluster cluster, JobID job) throws Exception {
        cluster.cancelJob(job).get(60, TimeUnit.SECONDS);
        cluster.requestJobResult(job).get(60, TimeUnit.SECONDS);
    }

    /** Slows the source so that a few checkpoints fit into a second of data. */
    private static final class Pacer implements MapFunction<Long, Long> {
        private long n;

        @Override
        public Long map(Long value) throws Exception {
            if (++n % 100 == 0) {
                Thread.sleep(1);
            }
            return value;
        }
    }

    /**
     * Checks each key's counter against the record's position in the sequence, and its payload
     * (written once per key from a seed derived from the key) byte for byte.
     */
    private static final class Verifier extends KeyedProcessFunction<Long, Long, Long> {
        private final int payloadBytes;
        private transient ValueState<Long> count;
        private transient ValueState<byte[]> payload;
        private transient Set<Long> seen;

        Verifier(int payloadBytes) {
            this.payloadBytes = payloadBytes;
        }

        @Override
        public void open(OpenContext openContext) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            payload =
                    getRuntimeContext()
                            .getState(new ValueStateDescriptor<>("payload", byte[].class));
            seen = new HashSet<>();
        }

        private byte[] expectedPayload(long key) {
            byte[] p = new byte[payloadBytes];
            new Random(key * 31 + payloadBytes).nextBytes(p);
            return p;
        }

        @Override
        public void processElement(Long n, Context ctx, Collector<Long> out) throws Exception {
            Long c = count.value();
            long current = c == null ? 0 : c;
            if (current != n / KEYS) {
                MISMATCHES.incrementAndGet();
            }
            long key = ctx.getCurrentKey();
            if (seen.add(key)) {
                byte[] stored = payload.value();
                if (current > 0) {
                    RESTORED_KEYS.incrementAndGet();
                    if (!Arrays.equals(stored, expectedPayload(key))) {
                        MISMATCHES.incrementAndGet();
                    }
                } else {
                    payload.update(expectedPayload(key));
                }
            }
            count.update(current + 1);
            CHECKED.incrementAndGet();
        }
    }
}
