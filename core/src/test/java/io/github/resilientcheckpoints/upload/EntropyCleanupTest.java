package io.github.resilientcheckpoints.upload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.testing.EntropyTestFileSystem;
import io.github.resilientcheckpoints.testing.LiveTree;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With entropy injection the store writes to a randomised path, not the target with the marker: an
 * abandoned attempt must delete what it really wrote, or the object is left where no sweep finds
 * it.
 */
class EntropyCleanupTest {

    @TempDir java.nio.file.Path root;

    private final ExecutorService executor = Executors.newCachedThreadPool();

    @AfterEach
    void tearDown() throws InterruptedException {
        EntropyTestFileSystem.hangWrites = false;
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void timedOutAttemptLeavesNoFileBehind() throws Exception {
        RetryingUploader uploader =
                new RetryingUploader(
                        new FlinkFileSystemStore(),
                        new RetryPolicy(
                                1,
                                Duration.ofMillis(1),
                                Duration.ofMillis(5),
                                Duration.ofMillis(300)),
                        executor,
                        Ticker.SYSTEM,
                        () -> 0.5,
                        new StorageMetrics(),
                        Redactor.NONE);
        Path directory =
                new Path(
                        EntropyTestFileSystem.SCHEME,
                        null,
                        root.resolve(EntropyTestFileSystem.MARKER).resolve("chk-1").toString());
        EntropyTestFileSystem.hangWrites = true;

        assertThatThrownBy(
                        () ->
                                uploader.upload(
                                        new ByteSource(new byte[100_000]),
                                        () -> new Path(directory, UUID.randomUUID().toString()),
                                        Ticker.SYSTEM.nanoTime() + TimeUnit.MINUTES.toNanos(1),
                                        new UploadCancellation()))
                .isInstanceOf(CheckpointUploadException.class);

        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!files().isEmpty() && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertThat(files()).as("files left by the abandoned attempt").isEmpty();
        try (Stream<java.nio.file.Path> s = Files.list(root)) {
            assertThat(s.map(p -> p.getFileName().toString()).toList())
                    .as("the attempt wrote under a randomised directory, not the marker")
                    .isNotEmpty()
                    .doesNotContain(EntropyTestFileSystem.MARKER);
        }
    }

    /** Polled while the abandoned attempt's file is deleted on another thread. */
    private List<java.nio.file.Path> files() throws IOException {
        return LiveTree.files(root, p -> true);
    }
}
