package io.github.resilientcheckpoints.spill;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.testing.FakeDisks;
import io.github.resilientcheckpoints.testing.FakeTicker;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The allocator against injected disks: a fake probe reports what the test's "disks" hold. */
class SpillSpaceTest {

    static final long MB = 1 << 20;

    @TempDir Path root;

    private SpillLimits limits(
            long floor, double fraction, long quota, long chunk, SpillFallback policy) {
        return new SpillLimits(
                floor, fraction, quota, chunk, Duration.ofSeconds(1), policy, 16 * MB);
    }

    @Test
    void newFileGoesToTheDirectoryWithTheMostRoom() throws IOException {
        FakeDisks disks = new FakeDisks();
        Path a = root.resolve("a");
        Path b = root.resolve("b");
        disks.add(a, 100 * MB);
        disks.add(b, 300 * MB);
        SpillSpace space =
                new SpillSpace(
                        List.of(a, b),
                        limits(0, 0, Long.MAX_VALUE, MB, SpillFallback.MEMORY),
                        disks,
                        new FakeTicker());
        SpillSpace.Reservation r = space.reserve(10 * MB).orElseThrow();
        assertThat(r.file().getParent().getParent())
                .isEqualTo(b.toAbsolutePath().resolve(SpillSpace.SUBDIR));
        // b now has 290 MB of room left, still more than a
        assertThat(space.reserve(180 * MB).orElseThrow().file().getParent().getParent().getParent())
                .isEqualTo(b.toAbsolutePath());
        // b has 110 MB, a 100 MB: b again; then a
        assertThat(space.reserve(105 * MB).orElseThrow().file().getParent().getParent().getParent())
                .isEqualTo(b.toAbsolutePath());
        assertThat(space.reserve(50 * MB).orElseThrow().file().getParent().getParent().getParent())
                .isEqualTo(a.toAbsolutePath());
        assertThat(space.reserve(60 * MB)).isEmpty();
    }

    @Test
    void floorIsTheLargerOfBytesAndFraction() throws IOException {
        FakeDisks disks = new FakeDisks();
        Path a = root.resolve("a");
        disks.add(a, 100 * MB);
        SpillSpace byBytes =
                new SpillSpace(
                        List.of(a),
                        limits(30 * MB, 0.1, Long.MAX_VALUE, MB, SpillFallback.MEMORY),
                        disks,
                        new FakeTicker());
        assertThat(byBytes.reserve(71 * MB)).isEmpty();
        assertThat(byBytes.reserve(70 * MB)).isPresent();

        FakeDisks other = new FakeDisks();
        Path c = root.resolve("c");
        other.add(c, 100 * MB);
        SpillSpace byFraction =
                new SpillSpace(
                        List.of(c),
                        limits(MB, 0.5, Long.MAX_VALUE, MB, SpillFallback.MEMORY),
                        other,
                        new FakeTicker());
        assertThat(byFraction.reserve(51 * MB)).isEmpty();
        assertThat(byFraction.reserve(50 * MB)).isPresent();
        assertThat(byFraction.describe()).contains("floor 50.0 MiB").contains(c.toString());
    }

    @Test
    void quotaCapsLiveReservationsAndReleaseGivesThemBack() throws IOException {
        FakeDisks disks = new FakeDisks();
        Path a = root.resolve("a");
        disks.add(a, 1000 * MB);
        SpillSpace space =
                new SpillSpace(
                        List.of(a),
                        limits(0, 0, 20 * MB, 4 * MB, SpillFallback.MEMORY),
                        disks,
                        new FakeTicker());
        SpillSpace.Reservation r = space.reserve(8 * MB).orElseThrow();
        assertThat(r.growTo(16 * MB, 8 * MB)).isTrue();
        assertThat(space.reservedBytes()).isEqualTo(16 * MB);
        assertThat(r.growTo(24 * MB, 10 * MB)).as("over the 20 MB quota").isFalse();
        assertThat(space.reserve(5 * MB)).isEmpty();
        r.trimTo(10 * MB);
        assertThat(space.reservedBytes()).isEqualTo(10 * MB);
        assertThat(space.reserve(10 * MB)).isPresent();
        r.release(10 * MB);
        assertThat(space.reservedBytes()).isEqualTo(10 * MB);
    }

    @Test
    void bytesWrittenSinceTheLastProbeStillCount() throws IOException {
        FakeDisks disks = new FakeDisks();
        Path a = root.resolve("a");
        disks.add(a, 100 * MB);
        Path sub = a.toAbsolutePath().resolve(SpillSpace.SUBDIR);
        FakeTicker ticker = new FakeTicker();
        SpillSpace space =
                new SpillSpace(
                        List.of(a),
                        limits(0, 0, Long.MAX_VALUE, MB, SpillFallback.MEMORY),
                        disks,
                        ticker);
        SpillSpace.Reservation r = space.reserve(60 * MB).orElseThrow();
        disks.used(sub).addAndGet(60 * MB); // written, probe is stale
        r.release(60 * MB); // file still on disk (e.g. being uploaded elsewhere)
        assertThat(space.reserve(41 * MB))
                .as("the stale probe plus written bytes say 40 MB")
                .isEmpty();
        ticker.advanceMillis(1500);
        assertThat(space.reserve(41 * MB)).as("fresh probe: 40 MB really free").isEmpty();
        disks.used(sub).addAndGet(-60 * MB); // file deleted
        ticker.advanceMillis(1500);
        assertThat(space.reserve(99 * MB)).isPresent();
    }

    @Test
    void manyThreadsReservingAgainstOneSmallDiskNeverExceedIt() throws Exception {
        FakeDisks disks = new FakeDisks();
        Path a = root.resolve("a");
        long capacity = 64 * MB;
        long floor = 8 * MB;
        disks.add(a, capacity);
        Path sub = a.toAbsolutePath().resolve(SpillSpace.SUBDIR);
        AtomicLong used = disks.used(sub);
        FakeTicker ticker = new FakeTicker();
        // probe interval 1 s on a fake clock that only moves when a thread says so: probes are rare
        SpillSpace space =
                new SpillSpace(
                        List.of(a),
                        limits(floor, 0, Long.MAX_VALUE, MB, SpillFallback.MEMORY),
                        disks,
                        ticker);
        AtomicLong maxUsed = new AtomicLong();
        AtomicLong completedFiles = new AtomicLong();
        AtomicLong refused = new AtomicLong();
        int threads = 16;
        CountDownLatch done = new CountDownLatch(threads);
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread worker =
                    new Thread(
                            () -> {
                                try {
                                    ThreadLocalRandom random = ThreadLocalRandom.current();
                                    for (int i = 0; i < 300; i++) {
                                        long want = (1 + random.nextInt(12)) * MB;
                                        Optional<SpillSpace.Reservation> r = space.reserve(MB);
                                        if (r.isEmpty()) {
                                            refused.incrementAndGet();
                                            continue;
                                        }
                                        long written = 0;
                                        while (written < want) {
                                            if (written + MB > r.get().limit()
                                                    && !r.get().growTo(written + MB, written)) {
                                                refused.incrementAndGet();
                                                break;
                                            }
                                            long now = used.addAndGet(MB); // the write
                                            maxUsed.accumulateAndGet(now, Math::max);
                                            written += MB;
                                        }
                                        if (random.nextInt(10) == 0) {
                                            ticker.advanceMillis(1100);
                                        }
                                        Files.deleteIfExists(r.get().file());
                                        used.addAndGet(-written); // the delete
                                        r.get().release(written);
                                        completedFiles.incrementAndGet();
                                    }
                                } catch (IOException e) {
                                    throw new RuntimeException(e);
                                } finally {
                                    done.countDown();
                                }
                            });
            workers.add(worker);
            worker.start();
        }
        assertThat(done.await(60, TimeUnit.SECONDS)).isTrue();
        assertThat(maxUsed.get())
                .as("peak bytes on the disk")
                .isLessThanOrEqualTo(capacity - floor);
        assertThat(refused.get()).as("the disk was contended").isPositive();
        assertThat(completedFiles.get()).isPositive();
        assertThat(space.reservedBytes()).isZero();
    }
}
