package io.github.resilientcheckpoints.storage;

import static io.github.resilientcheckpoints.storage.ResilientStateOutputStreamTest.randomBytes;
import static io.github.resilientcheckpoints.storage.ResilientStateOutputStreamTest.readAll;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.testing.FakeTicker;
import io.github.resilientcheckpoints.testing.PartUploadStore;
import io.github.resilientcheckpoints.testing.ScriptedStore;
import io.github.resilientcheckpoints.testing.Workers;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageAccess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Task-owned state streams (write-ahead sinks open one in {@code processElement} and close it at
 * the next snapshot) belong to no checkpoint: their upload budget starts when the upload does.
 */
class TaskOwnedStreamTest {

    static final int BUFFER = 32 * 1024;

    @TempDir java.nio.file.Path remote;
    @TempDir java.nio.file.Path spill;

    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final FakeTicker ticker = new FakeTicker();
    private final StorageMetrics metrics = new StorageMetrics();

    @AfterEach
    void tearDown() throws InterruptedException {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private ResilientCheckpointStorageAccess access(CheckpointStore store, Duration budget)
            throws IOException {
        SpillSpace space =
                new SpillSpace(
                        List.of(spill),
                        Workers.generousLimits(),
                        FreeSpaceProbe.FILE_STORE,
                        ticker);
        RetryingUploader uploader =
                new RetryingUploader(
                        store,
                        Workers.fastPolicy(3),
                        executor,
                        ticker,
                        () -> 0.5,
                        metrics,
                        Redactor.NONE);
        WorkerServices services =
                new WorkerServices(uploader, space, metrics, ticker, budget.toNanos());
        JobID job = new JobID();
        FsCheckpointStorageAccess flink =
                new FsCheckpointStorageAccess(new Path(remote.toUri()), null, job, 1024, BUFFER);
        return new ResilientCheckpointStorageAccess(
                flink,
                job,
                1024,
                BUFFER,
                new ResilientCheckpointStorageAccess.WorkerContext() {
                    @Override
                    public WorkerServices services() {
                        return services;
                    }

                    @Override
                    public long firstSeenNanos(JobID j, long checkpointId) {
                        return ticker.nanoTime();
                    }
                },
                (dir, id) -> {});
    }

    @Test
    void streamOpenLongerThanTheBudgetStillUploads() throws Exception {
        ScriptedStore store = new ScriptedStore();
        CheckpointStateOutputStream out =
                access(store, Duration.ofSeconds(10)).createTaskOwnedStateStream();
        byte[] data = randomBytes(5 * BUFFER + 9, 1);
        out.write(data, 0, BUFFER);
        ticker.advanceMillis(
                60_000); // the sink writes for a checkpoint interval longer than the timeout
        out.write(data, BUFFER, data.length - BUFFER);

        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(store.attempts()).isEqualTo(1);
    }

    @Test
    void aLongTaskOwnedStreamStartsNoPartUploadSoItHoldsNoPermitWhileOpen() throws Exception {
        // A write-ahead sink keeps its stream open until the next snapshot: a part upload started
        // while it is written would hold an upload permit (and the store's pending upload) all
        // that time. It goes up whole at closeAndGetHandle().
        PartUploadStore store = new PartUploadStore(BUFFER);
        try {
            CheckpointStateOutputStream out =
                    access(store, Duration.ofSeconds(10)).createTaskOwnedStateStream();
            byte[] data = randomBytes(6 * BUFFER + 5, 3);
            out.write(data);

            assertThat(store.startedUploads())
                    .as("no part upload while the stream is open")
                    .isZero();

            StreamStateHandle handle = out.closeAndGetHandle();
            assertThat(readAll(handle)).isEqualTo(data);
            assertThat(store.pendingUploads()).isZero();
        } finally {
            store.close();
        }
    }

    @Test
    void theBudgetStartsWhenTheUploadStarts() throws Exception {
        // 300 ms of budget from closeAndGetHandle: a hung first attempt is given up after 300 ms
        // (not at once, as a budget counted from stream creation would), the retry succeeds.
        ScriptedStore store = new ScriptedStore().thenHang();
        CheckpointStateOutputStream out =
                access(store, Duration.ofMillis(300)).createTaskOwnedStateStream();
        byte[] data = randomBytes(3 * BUFFER, 2);
        out.write(data);
        ticker.advanceMillis(60_000);

        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(store.attempts()).isEqualTo(2);
    }
}
