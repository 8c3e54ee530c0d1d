package io.github.resilientcheckpoints.cli.doctor;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

/** Jobs built to show one cause each (the healthy and store cases use core's CountingJob). */
final class EngineeredJobs {

    private EngineeredJobs() {}

    /**
     * Nine records in ten go to key 0, whose operator takes 5 ms per record; the other keys cost
     * nothing. The subtask owning key 0 is backpressured, and aligned barriers queue behind its
     * backlog.
     */
    static JobID skewed(MiniCluster cluster, Configuration conf) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.fromSequence(0, Long.MAX_VALUE)
                .name("sequence")
                .setParallelism(1)
                .map(new SkewedRecord())
                .setParallelism(1)
                .keyBy(t -> t.f0)
                .process(new SlowOnHotKey())
                .name("slow-on-hot-key")
                .setParallelism(2)
                .sinkTo(new DiscardingSink<>())
                .setParallelism(2);
        return submit(cluster, env);
    }

    /** Every record is a new key with 64 bytes of state: the state grows with every checkpoint. */
    static JobID growing(MiniCluster cluster, Configuration conf) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.fromSequence(0, Long.MAX_VALUE)
                .name("sequence")
                .setParallelism(1)
                .map(new Paced())
                .setParallelism(1)
                .keyBy(n -> n)
                .process(new RememberEveryKey())
                .name("remember-every-key")
                .setParallelism(2)
                .sinkTo(new DiscardingSink<>())
                .setParallelism(2);
        return submit(cluster, env);
    }

    /**
     * Every checkpoint takes at least {@code snapshot}: one operator's synchronous snapshot waits
     * that long. With a timeout below it, every checkpoint expires, whatever the machine's speed.
     */
    static JobID slowSnapshot(MiniCluster cluster, Configuration conf, Duration snapshot)
            throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.fromSequence(0, Long.MAX_VALUE)
                .name("sequence")
                .setParallelism(1)
                .map(new Paced())
                .setParallelism(1)
                .keyBy(n -> n % 100)
                .map(new SlowSnapshot(snapshot.toMillis()))
                .name("slow-snapshot")
                .setParallelism(2)
                .sinkTo(new DiscardingSink<>())
                .setParallelism(2);
        return submit(cluster, env);
    }

    private static JobID submit(MiniCluster cluster, StreamExecutionEnvironment env)
            throws Exception {
        return cluster.submitJob(env.getStreamGraph().getJobGraph())
                .get(60, TimeUnit.SECONDS)
                .getJobID();
    }

    private static final class SkewedRecord implements MapFunction<Long, Tuple2<Long, String>> {
        private static final String PAYLOAD = "x".repeat(1024);

        @Override
        public Tuple2<Long, String> map(Long n) {
            return Tuple2.of(n % 10 == 0 ? 1 + n % 97 : 0L, PAYLOAD);
        }
    }

    private static final class SlowOnHotKey
            extends KeyedProcessFunction<Long, Tuple2<Long, String>, Long> {
        private transient ValueState<Long> count;

        @Override
        public void open(OpenContext openContext) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
        }

        @Override
        public void processElement(Tuple2<Long, String> value, Context ctx, Collector<Long> out)
                throws Exception {
            if (value.f0 == 0L) {
                Thread.sleep(5);
            }
            Long c = count.value();
            count.update(c == null ? 1 : c + 1);
        }
    }

    private static final class Paced implements MapFunction<Long, Long> {
        private long n;

        @Override
        public Long map(Long value) throws Exception {
            if (++n % 20 == 0) {
                Thread.sleep(1);
            }
            return value;
        }
    }

    private static final class SlowSnapshot
            implements MapFunction<Long, Long>, CheckpointedFunction {
        private final long snapshotMillis;

        SlowSnapshot(long snapshotMillis) {
            this.snapshotMillis = snapshotMillis;
        }

        @Override
        public Long map(Long value) {
            return value;
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            Thread.sleep(snapshotMillis);
        }

        @Override
        public void initializeState(FunctionInitializationContext context) {}
    }

    private static final class RememberEveryKey extends KeyedProcessFunction<Long, Long, Long> {
        private transient ValueState<byte[]> payload;

        @Override
        public void open(OpenContext openContext) {
            payload =
                    getRuntimeContext()
                            .getState(new ValueStateDescriptor<>("payload", byte[].class));
        }

        @Override
        public void processElement(Long n, Context ctx, Collector<Long> out) throws Exception {
            payload.update(new byte[64]);
        }
    }
}
