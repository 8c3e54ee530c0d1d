package io.github.resilientcheckpoints.jmh;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Many small state files on the local disk, as a checkpoint of several subtasks with many small
 * states writes them: {@code subtasks} threads each write {@code files} state files of {@code
 * fileKiB} KiB (in one piece each) and close them for a handle, at the same time. Score: time for
 * all of them; the files are deleted after the measured part (not measured). {@code ours} spills on
 * the same disk (and adopts the spill file); {@code flink} is Flink's own stream.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class SmallFilesBenchmark {

    @Param({"64"})
    public int fileKiB;

    @Param({"100"})
    public int files;

    @Param({"4"})
    public int subtasks;

    private Targets target;
    private ExecutorService subtaskThreads;
    private byte[] piece;
    private final List<StreamStateHandle> written = new ArrayList<>();

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        target = Targets.local();
        subtaskThreads = Executors.newFixedThreadPool(subtasks);
        piece = new byte[fileKiB * 1024];
        new Random(1).nextBytes(piece);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        subtaskThreads.shutdownNow();
        subtaskThreads.awaitTermination(10, TimeUnit.SECONDS);
        target.close();
    }

    @TearDown(Level.Invocation)
    public void discard() throws Exception {
        for (StreamStateHandle h : written) {
            target.discard(h);
        }
        written.clear();
    }

    @Benchmark
    public int ours() throws Exception {
        return writeAll(true);
    }

    @Benchmark
    public int flink() throws Exception {
        return writeAll(false);
    }

    private int writeAll(boolean ours) throws Exception {
        List<Callable<List<StreamStateHandle>>> tasks = new ArrayList<>();
        for (int s = 0; s < subtasks; s++) {
            tasks.add(
                    () -> {
                        List<StreamStateHandle> handles = new ArrayList<>(files);
                        for (int f = 0; f < files; f++) {
                            CheckpointStateOutputStream out = ours ? target.ours() : target.flink();
                            out.write(piece);
                            handles.add(out.closeAndGetHandle());
                        }
                        return handles;
                    });
        }
        for (Future<List<StreamStateHandle>> f : subtaskThreads.invokeAll(tasks)) {
            written.addAll(f.get());
        }
        return written.size();
    }
}
