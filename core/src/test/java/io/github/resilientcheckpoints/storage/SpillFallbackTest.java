package io.github.resilientcheckpoints.storage;

import static io.github.resilientcheckpoints.storage.ResilientStateOutputStreamTest.randomBytes;
import static io.github.resilientcheckpoints.storage.ResilientStateOutputStreamTest.readAll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.testing.FakeDisks;
import io.github.resilientcheckpoints.testing.FakeTicker;
import io.github.resilientcheckpoints.testing.SpillFiles;
import io.github.resilientcheckpoints.testing.Workers;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The stream when disks have no room, with an injected probe in front of real files. */
class SpillFallbackTest {

    static final int BUFFER = 32 * 1024;
    static final long CHUNK = 64 * 1024;

    @TempDir java.nio.file.Path remote;
    @TempDir java.nio.file.Path spill;

    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final StorageMetrics metrics = new StorageMetrics();
    private final FakeDisks disks = new FakeDisks();

    @AfterEach
    void tearDown() throws InterruptedException {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private SpillSpace space(long diskBytes, long floor, SpillFallback policy, long memoryBudget)
            throws IOException {
        disks.add(spill, diskBytes);
        return new SpillSpace(
                List.of(spill),
                new SpillLimits(
                        floor,
                        0.0,
                        Long.MAX_VALUE,
                        CHUNK,
                        Duration.ofSeconds(1),
                        policy,
                        memoryBudget),
                disks,
                new FakeTicker());
    }

    private ResilientStateOutputStream stream(SpillSpace space) {
        WorkerServices services =
                Workers.services(
                        new FlinkFileSystemStore(),
                        Workers.fastPolicy(3),
                        executor,
                        space,
                        metrics,
                        Redactor.NONE);
        return new ResilientStateOutputStream(
                new Path(remote.toUri()),
                true,
                1024,
                BUFFER,
                services,
                Ticker.SYSTEM.nanoTime() + TimeUnit.MINUTES.toNanos(5));
    }

    @Test
    void noRoomAnywhereKeepsTheStreamInMemory() throws Exception {
        SpillSpace space = space(10 * CHUNK, 10 * CHUNK, SpillFallback.MEMORY, 1 << 20);
        byte[] data = randomBytes(5 * BUFFER + 100, 1);
        ResilientStateOutputStream out = stream(space);
        out.write(data);
        StreamStateHandle handle = out.closeAndGetHandle();
        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(metrics.snapshot())
                .containsEntry("spillFallbacksNoSpace", 1L)
                .containsEntry("spillFiles", 0L);
        assertThat(spillFiles()).isEmpty();
        assertThat(space.memoryBudget().used()).isZero();
    }

    @Test
    void failPolicyFailsAtOnceNamingDirectoryFreeSpaceAndFloor() throws Exception {
        SpillSpace space = space(10 * CHUNK, 10 * CHUNK, SpillFallback.FAIL, 1 << 20);
        ResilientStateOutputStream out = stream(space);
        assertThatThrownBy(() -> out.write(randomBytes(3 * BUFFER, 2)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("Cannot stage checkpoint state")
                .hasMessageContaining(FakeDisks.sub(spill).toString())
                .hasMessageContaining("free 640.0 KiB".replace("640.0 KiB", "655360 bytes"))
                .hasMessageContaining("floor 655360 bytes")
                .hasMessageContaining("'execution.checkpointing.resilient.spill.fallback'");
        out.close();
        assertThat(spillFiles()).isEmpty();
        assertThat(remoteFiles()).isEmpty();
        assertThat(metrics.snapshot()).containsEntry("spillFailures", 1L);
    }

    @Test
    void diskRunningOutMidStreamMovesTheRestToMemoryAndKeepsTheSpilledPrefix() throws Exception {
        // room for exactly two chunks above the floor
        SpillSpace space = space(12 * CHUNK, 10 * CHUNK, SpillFallback.MEMORY, 4 << 20);
        byte[] data = randomBytes(12 * BUFFER + 7, 3);
        ResilientStateOutputStream out = stream(space);
        out.write(data, 0, 5000);
        out.write(data, 5000, data.length - 5000);
        // On this file system the spill file is written in place, in the checkpoint directory.
        java.nio.file.Path staged = out.spillFile();
        assertThat(Files.size(staged)).isEqualTo(2 * CHUNK);
        StreamStateHandle handle = out.closeAndGetHandle();
        assertThat(readAll(handle)).isEqualTo(data);
        java.nio.file.Path stateFile =
                java.nio.file.Paths.get(((FileStateHandle) handle).getFilePath().toUri());
        assertThat(staged)
                .as("the spilled prefix is not the state file: uploaded whole under a new name")
                .isNotEqualTo(stateFile)
                .doesNotExist();
        assertThat(remoteFiles()).containsExactly(stateFile);
        assertThat(spillFiles()).isEmpty();
        assertThat(space.reservedBytes()).isZero();
        assertThat(space.memoryBudget().used()).isZero();
        assertThat(metrics.snapshot()).containsEntry("spillFallbacksNoSpace", 1L);
    }

    @Test
    void exhaustedMemoryBudgetFailsTheStreamClearly() throws Exception {
        SpillSpace space = space(10 * CHUNK, 10 * CHUNK, SpillFallback.MEMORY, 2 * BUFFER);
        ResilientStateOutputStream out = stream(space);
        assertThatThrownBy(() -> out.write(randomBytes(5 * BUFFER, 4)))
                .hasMessageContaining("memory fallback budget is exhausted")
                .hasMessageContaining(
                        "'execution.checkpointing.resilient.spill.fallback.memory-budget'");
        out.close();
        assertThat(space.memoryBudget().used()).isZero();
        assertThat(spillFiles()).isEmpty();
    }

    private List<java.nio.file.Path> spillFiles() throws IOException {
        return SpillFiles.under(FakeDisks.sub(spill));
    }

    private List<java.nio.file.Path> remoteFiles() throws IOException {
        try (Stream<java.nio.file.Path> s = Files.list(remote)) {
            return s.toList();
        }
    }
}
