package io.github.resilientcheckpoints.jmh;

import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.UploadThrottle;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;

/**
 * Cost of the throttle itself: taking one 256 KiB chunk of bandwidth at a rate so high that nobody
 * ever sleeps (so only the bookkeeping is measured), and a permit acquire/release pair, with 1, 2,
 * 4 and 8 threads on one shared throttle. Compare with the time a 256 KiB write takes (the write
 * benchmark: tens of microseconds or more).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class ThrottleBenchmark {

    private final UploadThrottle throttle =
            new UploadThrottle(
                    new UploadThrottle.Settings(
                            Long.MAX_VALUE / 4,
                            1,
                            1L << 40,
                            256 * 1024,
                            1024,
                            0.5,
                            TimeUnit.SECONDS.toNanos(30)),
                    Ticker.SYSTEM,
                    Sleeper.SYSTEM);

    private void chunk() throws IOException {
        throttle.acquireBytes(256 * 1024, Long.MAX_VALUE);
    }

    private void permit() throws IOException {
        throttle.acquirePermit(Long.MAX_VALUE);
        throttle.releasePermit();
    }

    @Benchmark
    @Threads(1)
    public void acquireChunk1() throws IOException {
        chunk();
    }

    @Benchmark
    @Threads(2)
    public void acquireChunk2() throws IOException {
        chunk();
    }

    @Benchmark
    @Threads(4)
    public void acquireChunk4() throws IOException {
        chunk();
    }

    @Benchmark
    @Threads(8)
    public void acquireChunk8() throws IOException {
        chunk();
    }

    @Benchmark
    @Threads(1)
    public void permit1() throws IOException {
        permit();
    }

    @Benchmark
    @Threads(8)
    public void permit8() throws IOException {
        permit();
    }
}
