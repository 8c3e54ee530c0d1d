package io.github.resilientcheckpoints.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which name a spill adoption makes durable. Flink's own stream creates its file in the checkpoint
 * directory, writes it and syncs it last, so the sync covers the file under the name its handle
 * gives. An adopted spill file must leave the same guarantee. Cutting a disk's power is the only
 * way to observe it, so the real file operations run here with their order recorded.
 */
class SpillAdoptionOrderTest {

    @TempDir java.nio.file.Path dir;

    @Test
    void theLastFsyncCoversTheStateFileUnderItsNameInTheCheckpointDirectory() throws Exception {
        List<String> done = new ArrayList<>();
        FlinkFileSystemStore.LocalFiles recording =
                new FlinkFileSystemStore.LocalFiles() {
                    @Override
                    public void force(java.nio.file.Path file) throws IOException {
                        FlinkFileSystemStore.LocalFiles.REAL.force(file);
                        done.add("fsync " + dir.relativize(file));
                    }

                    @Override
                    public void link(java.nio.file.Path link, java.nio.file.Path existing)
                            throws IOException {
                        FlinkFileSystemStore.LocalFiles.REAL.link(link, existing);
                        done.add("name " + dir.relativize(link));
                    }
                };
        java.nio.file.Path spillDir = Files.createDirectories(dir.resolve("spill"));
        java.nio.file.Path checkpointDir = Files.createDirectories(dir.resolve("chk-1"));
        java.nio.file.Path spillFile = Files.writeString(spillDir.resolve("a.spill"), "state");
        Path target = new Path(checkpointDir.resolve("state-file").toUri());

        Path written = new FlinkFileSystemStore(recording).adopt(spillFile, target);

        assertThat(written).isEqualTo(target);
        assertThat(checkpointDir.resolve("state-file")).hasContent("state");
        assertThat(done)
                .as("nothing may give the file its name after the last fsync")
                .last()
                .isEqualTo("fsync chk-1/state-file");
    }

    @Test
    void aFailedFsyncLeavesNothingAtTheTargetAndTheSpillFileAsItWas() throws Exception {
        FlinkFileSystemStore.LocalFiles fsyncFails =
                new FlinkFileSystemStore.LocalFiles() {
                    @Override
                    public void force(java.nio.file.Path file) throws IOException {
                        throw new IOException("Input/output error (injected)");
                    }

                    @Override
                    public void link(java.nio.file.Path link, java.nio.file.Path existing)
                            throws IOException {
                        FlinkFileSystemStore.LocalFiles.REAL.link(link, existing);
                    }
                };
        java.nio.file.Path spillFile = Files.writeString(dir.resolve("a.spill"), "state");
        java.nio.file.Path checkpointDir = Files.createDirectories(dir.resolve("chk-1"));
        Path target = new Path(checkpointDir.resolve("state-file").toUri());

        assertThatThrownBy(() -> new FlinkFileSystemStore(fsyncFails).adopt(spillFile, target))
                .hasMessageContaining("injected");

        assertThat(checkpointDir.resolve("state-file")).doesNotExist();
        assertThat(spillFile).as("uploaded the ordinary way next").hasContent("state");
    }
}
