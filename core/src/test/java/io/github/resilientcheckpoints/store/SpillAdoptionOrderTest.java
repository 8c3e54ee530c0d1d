package io.github.resilientcheckpoints.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a spill adoption makes durable. Flink's own stream creates its file in the checkpoint
 * directory, writes it and syncs it last through its own descriptor, so the sync covers every byte
 * and the name its handle gives. An adopted spill file, written in place under that name, must
 * leave the same guarantee. Cutting a disk's power is the only way to observe it, so the real
 * {@code fsync} runs here with what it covered recorded.
 */
class SpillAdoptionOrderTest {

    @TempDir java.nio.file.Path dir;

    @Test
    void theFsyncRunsThroughTheWritersDescriptorOnTheStateFileUnderItsName() throws Exception {
        List<String> synced = new ArrayList<>();
        FlinkFileSystemStore.LocalFiles recording =
                (file, descriptor) -> {
                    FlinkFileSystemStore.LocalFiles.REAL.force(file, descriptor);
                    synced.add(dir.relativize(file) + ", " + Files.size(file) + " bytes");
                };
        java.nio.file.Path checkpointDir = Files.createDirectories(dir.resolve("chk-1"));
        java.nio.file.Path file = checkpointDir.resolve("state-file");
        Path target = new Path(checkpointDir.resolve("state-file").toUri());

        Path written;
        try (FileOutputStream out = new FileOutputStream(file.toFile())) {
            out.write("state".getBytes(StandardCharsets.UTF_8));
            written = new FlinkFileSystemStore(recording).adopt(file, out.getFD(), target);
        }

        assertThat(written).isEqualTo(target);
        assertThat(file).hasContent("state");
        assertThat(synced).containsExactly("chk-1/state-file, 5 bytes");
    }

    @Test
    void aFailedFsyncLeavesTheFileAsItWasForTheOrdinaryUpload() throws Exception {
        FlinkFileSystemStore.LocalFiles fsyncFails =
                (file, descriptor) -> {
                    throw new IOException("Input/output error (injected)");
                };
        java.nio.file.Path checkpointDir = Files.createDirectories(dir.resolve("chk-1"));
        java.nio.file.Path file = checkpointDir.resolve("state-file");
        Path target = new Path(file.toUri());

        try (FileOutputStream out = new FileOutputStream(file.toFile())) {
            out.write("state".getBytes(StandardCharsets.UTF_8));
            assertThatThrownBy(
                            () ->
                                    new FlinkFileSystemStore(fsyncFails)
                                            .adopt(file, out.getFD(), target))
                    .hasMessageContaining("injected");
        }
        assertThat(file).as("uploaded the ordinary way next").hasContent("state");
    }

    @Test
    void aFileThatIsNotTheTargetsIsRefusedWithoutAnFsync() throws Exception {
        List<java.nio.file.Path> synced = new ArrayList<>();
        java.nio.file.Path elsewhere = Files.createDirectories(dir.resolve("spill"));
        java.nio.file.Path file = elsewhere.resolve("a.spill");
        Path target = new Path(Files.createDirectories(dir.resolve("chk-1")).resolve("s").toUri());

        try (FileOutputStream out = new FileOutputStream(file.toFile())) {
            assertThatThrownBy(
                            () ->
                                    new FlinkFileSystemStore((f, d) -> synced.add(f))
                                            .adopt(file, out.getFD(), target))
                    .hasMessageContaining("is not the local file behind");
        }
        assertThat(synced).isEmpty();
    }
}
