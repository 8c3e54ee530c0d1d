package io.github.resilientcheckpoints.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

/**
 * A keyed job whose state is checkable across processes: the ordered sequence 0, 1, 2, … keyed by
 * {@code n % KEYS}; each key's counter must equal {@code n / KEYS} when record {@code n} arrives,
 * and each key carries a payload (checked byte for byte after a restore) that puts every snapshot
 * well above the inline threshold. A mismatch is appended to a file (it must survive a killed
 * process); each key that came back with state is appended to {@link #restoredFile} (with the job
 * id and the task's attempt number).
 */
final class ClusterJob {

    static final int KEYS = 200;
    static final int PAYLOAD_BYTES = 16 * 1024;
    static final String VERIFIER = "verifier";

    private ClusterJob() {}

    /**
     * Where the verifier appends "job-id attempt key" for each key that came back with its state:
     * next to the mismatch file. Read from a file, not from a REST metric: after a TaskManager is
     * killed, the JobManager's metric store can keep the attempt before the kill for minutes (see
     * {@link ClusterJobs#restoredKeys}).
     */
    static java.nio.file.Path restoredFile(java.nio.file.Path mismatchFile) {
        return mismatchFile.resolveSibling("restored-keys.txt");
    }

    static JobGraph graph(String mismatchFile) {
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(300));
        conf.set(
                CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION,
                ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.fromSequence(0, Long.MAX_VALUE)
                .name("sequence")
                .setParallelism(1)
                .map(new Pacer())
                .name("pacer")
                .setParallelism(1)
                .keyBy(n -> n % KEYS)
                .process(new Verifier(mismatchFile))
                .name(VERIFIER)
                .setParallelism(2)
                .sinkTo(new DiscardingSink<>())
                .setParallelism(2);
        return env.getStreamGraph().getJobGraph();
    }

    /** Keeps the record rate moderate so that checkpoints, not records, dominate the work. */
    private static final class Pacer implements MapFunction<Long, Long> {
        private long n;

        @Override
        public Long map(Long value) throws Exception {
            if (++n % 50 == 0) {
                Thread.sleep(1);
            }
            return value;
        }
    }

    private static final class Verifier extends KeyedProcessFunction<Long, Long, Long> {
        private final String mismatchFile;
        private transient ValueState<Long> count;
        private transient ValueState<byte[]> payload;
        private transient Set<Long> seen;
        private transient Counter checked;
        private transient String jobAndAttempt;

        Verifier(String mismatchFile) {
            this.mismatchFile = mismatchFile;
        }

        @Override
        public void open(OpenContext openContext) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            payload =
                    getRuntimeContext()
                            .getState(new ValueStateDescriptor<>("payload", byte[].class));
            seen = new HashSet<>();
            checked = getRuntimeContext().getMetricGroup().counter("checked");
            jobAndAttempt =
                    getRuntimeContext().getJobInfo().getJobId().toHexString()
                            + " "
                            + getRuntimeContext().getTaskInfo().getAttemptNumber();
        }

        private static byte[] expectedPayload(long key) {
            byte[] p = new byte[PAYLOAD_BYTES];
            new Random(key * 31 + PAYLOAD_BYTES).nextBytes(p);
            return p;
        }

        @Override
        public void processElement(Long n, Context ctx, Collector<Long> out) throws Exception {
            Long c = count.value();
            long current = c == null ? 0 : c;
            long key = ctx.getCurrentKey();
            if (current != n / KEYS) {
                mismatch("key " + key + ": record " + n + " found counter " + current);
            }
            if (seen.add(key)) {
                if (current > 0) {
                    if (!Arrays.equals(payload.value(), expectedPayload(key))) {
                        mismatch("key " + key + ": payload differs after restore");
                    }
                    append(restoredFile(Paths.get(mismatchFile)), jobAndAttempt + " " + key);
                } else {
                    payload.update(expectedPayload(key));
                }
            }
            count.update(current + 1);
            checked.inc();
        }

        private void mismatch(String what) {
            append(Paths.get(mismatchFile), what);
        }

        private static void append(java.nio.file.Path file, String line) {
            try {
                Files.write(
                        file,
                        (line + "\n").getBytes(StandardCharsets.UTF_8),
                        StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
