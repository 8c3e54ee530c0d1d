package io.github.resilientcheckpoints.storage.jm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.testing.FakeTicker;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCompletedCheckpointStorageLocation;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JobManager's deletes of checkpoint locations: Flink's own deletes, retried — never more than
 * Flink would delete.
 */
class LocationDeletesTest {

    @TempDir java.nio.file.Path dir;

    private final FakeTicker ticker = new FakeTicker();
    private final Sleeper fakeSleep = nanos -> ticker.advanceNanos(nanos);
    private final StorageMetrics metrics = new StorageMetrics();
    private final List<Runnable> background = new ArrayList<>();

    private LocationDeletes deletes() {
        RetryPolicy policy =
                new RetryPolicy(
                        4, Duration.ofMillis(100), Duration.ofSeconds(1), Duration.ofMinutes(1));
        StoreRetries retries =
                new StoreRetries(
                        new FlinkFileSystemStore(),
                        policy,
                        ticker,
                        fakeSleep,
                        () -> 0.5,
                        Redactor.NONE,
                        Runnable::run);
        return new LocationDeletes(
                retries, metrics, Redactor.NONE, TimeUnit.MINUTES.toNanos(10), background::add);
    }

    private JobManagerCompletedLocation completed(java.nio.file.Path chk) {
        Path exclusive = new Path(chk.toUri());
        return new JobManagerCompletedLocation(
                FileSystem.getLocalFileSystem(),
                exclusive,
                new FileStateHandle(new Path(exclusive, "_metadata"), 10),
                exclusive.toString(),
                deletes());
    }

    @Test
    void aCompletedLocationWithFilesLeftInItIsNeverEmptied() throws Exception {
        // Flink deletes the exclusive directory non-recursively, after the state it knows of.
        java.nio.file.Path chk = Files.createDirectories(dir.resolve("chk-3"));
        Files.write(chk.resolve("state-someone-still-needs"), new byte[] {1});

        assertThatThrownBy(() -> completed(chk).disposeStorageLocation())
                .hasMessageContaining("Could not delete checkpoint directory")
                .hasMessageContaining(chk.toString());

        assertThat(chk.resolve("state-someone-still-needs")).exists();
        assertThat(metrics.locationDeleteFailures()).isEqualTo(1);
        assertThat(metrics.locationDeleteRetries()).as("retrying cannot empty it").isZero();
    }

    @Test
    void anEmptyCompletedLocationIsDeletedAndCounted() throws Exception {
        java.nio.file.Path chk = Files.createDirectories(dir.resolve("chk-4"));

        completed(chk).disposeStorageLocation();

        assertThat(chk).doesNotExist();
        assertThat(metrics.locationDeletes()).isEqualTo(1);
        assertThat(metrics.snapshot()).containsEntry("locationDeletes", 1L);
    }

    @Test
    void afterJavaSerializationDisposalIsFlinksOwn() throws Exception {
        // With high availability, Flink stores the completed checkpoint (and so its location)
        // serialized.
        java.nio.file.Path chk = Files.createDirectories(dir.resolve("chk-5"));
        FsCompletedCheckpointStorageLocation copy =
                InstantiationUtil.clone(completed(chk), getClass().getClassLoader());

        copy.disposeStorageLocation();

        assertThat(chk).doesNotExist();
        assertThat(metrics.locationDeletes()).as("no retry machinery after a round trip").isZero();
    }

    @Test
    void anAbortedLocationIsDeletedInTheBackgroundAsFlinkDeletesIt() throws Exception {
        java.nio.file.Path chk = Files.createDirectories(dir.resolve("chk-6"));
        Files.write(chk.resolve("partial-state"), new byte[] {1, 2});
        FsCheckpointStorageLocation flink =
                new FsCheckpointStorageLocation(
                        FileSystem.getLocalFileSystem(),
                        new Path(chk.toUri()),
                        new Path(dir.resolve("shared").toUri()),
                        new Path(dir.resolve("taskowned").toUri()),
                        CheckpointStorageLocationReference.getDefault(),
                        1024,
                        4096);
        MetadataWriter unused =
                new MetadataWriter(
                        new FlinkFileSystemStore(),
                        new RetryPolicy(1, Duration.ZERO, Duration.ZERO, Duration.ofSeconds(1)),
                        ticker,
                        fakeSleep,
                        () -> 0.5,
                        metrics,
                        Redactor.NONE,
                        Runnable::run,
                        Long.MAX_VALUE);
        JobManagerLocation location =
                new JobManagerLocation(flink, unused, Long.MAX_VALUE, 1024, deletes());

        location.disposeOnFailure();
        assertThat(chk).as("not on the caller's thread").exists();
        assertThat(background).hasSize(1);

        background.get(0).run();
        assertThat(chk).as("Flink deletes an aborted chk-N as a whole").doesNotExist();
        assertThat(metrics.locationDeletes()).isEqualTo(1);
    }

    @Test
    void aDeleteFailingTransientlyIsRetried() throws IOException {
        int[] calls = {0};
        deletes()
                .delete(
                        "delete checkpoint directory",
                        new Path("file:///x/chk-9"),
                        () -> {
                            if (++calls[0] < 3) {
                                throw new IOException("connection reset");
                            }
                        });
        assertThat(calls[0]).isEqualTo(3);
        assertThat(metrics.locationDeleteRetries()).isEqualTo(2);
        assertThat(metrics.locationDeletes()).isEqualTo(1);
    }
}
