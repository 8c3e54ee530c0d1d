package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.storage.ResilientStateOutputStream;
import io.github.resilientcheckpoints.storage.WorkerServices;
import io.github.resilientcheckpoints.testing.SpillFiles;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.UploadThrottle;
import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HDFS store's following write, on a real 2-DataNode HDFS: the hidden temporary file grows
 * while the state is still written and is committed (hsync + rename) at the end; a following write
 * broken mid-way by HDFS itself (its file deleted on the NameNode, so the next block or sync is
 * refused) is aborted and the spill file goes up whole, with retries, under a fresh name; a stream
 * closed during a following write leaves nothing in HDFS.
 */
class HdfsFollowingWriteIT {

    static final int MB = 1 << 20;

    @TempDir java.nio.file.Path base;
    @TempDir java.nio.file.Path spill;

    private MiniDfs dfs;
    private HdfsStore store;
    private DistributedFileSystem client;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final StorageMetrics metrics = new StorageMetrics();
    private final UploadThrottle throttle =
            new UploadThrottle(
                    new UploadThrottle.Settings(
                            Long.MAX_VALUE, 1, 0, 1 << 20, 4, 0.5, TimeUnit.SECONDS.toNanos(30)),
                    Ticker.SYSTEM,
                    Sleeper.SYSTEM);

    @BeforeEach
    void start() throws IOException {
        dfs = new MiniDfs(base, 2);
        store =
                new HdfsStore(
                        FileSystem.newInstance(dfs.uri(), dfs.conf()),
                        2,
                        null,
                        Duration.ofSeconds(10),
                        Ticker.SYSTEM);
        client = dfs.fs();
        client.mkdirs(new org.apache.hadoop.fs.Path("/ckpt/chk-1"));
    }

    @AfterEach
    void stop() throws Exception {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        store.close();
        dfs.close();
    }

    private Path dir() {
        return new Path(dfs.uri() + "/ckpt/chk-1");
    }

    private ResilientStateOutputStream stream() throws IOException {
        SpillSpace space =
                new SpillSpace(
                        List.of(spill),
                        new SpillLimits(
                                0,
                                0.0,
                                Long.MAX_VALUE,
                                1 << 20,
                                Duration.ofSeconds(1),
                                SpillFallback.MEMORY,
                                64 << 20),
                        FreeSpaceProbe.FILE_STORE,
                        Ticker.SYSTEM);
        RetryingUploader uploader =
                new RetryingUploader(
                        store,
                        new RetryPolicy(
                                5,
                                Duration.ofMillis(50),
                                Duration.ofMillis(500),
                                Duration.ofSeconds(60)),
                        executor,
                        Ticker.SYSTEM,
                        () -> 0.5,
                        metrics,
                        Redactor.NONE,
                        throttle);
        WorkerServices services =
                new WorkerServices(
                        uploader, space, metrics, Ticker.SYSTEM, Duration.ofMinutes(10).toNanos());
        return new ResilientStateOutputStream(
                dir(),
                true,
                1024,
                32 * 1024,
                services,
                Ticker.SYSTEM.nanoTime() + TimeUnit.MINUTES.toNanos(5));
    }

    @Test
    void theTemporaryFileGrowsWhileTheStateIsWrittenAndIsRenamedAtTheEnd() throws Exception {
        byte[] data = bytes(6 * MB, 1);
        ResilientStateOutputStream out = stream();
        out.write(data, 0, 3 * MB);
        // A full block has gone to the DataNodes before the state is complete.
        await(() -> temporaryBytes() >= MB);
        out.write(data, 3 * MB, 3 * MB);
        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(read(handle)).isEqualTo(data);
        assertThat(files())
                .hasSize(1)
                .allMatch(f -> !f.getPath().getName().endsWith(HdfsStore.TEMP_SUFFIX));
        assertThat(metrics.pipelinedUploads()).isEqualTo(1);
        assertThat(metrics.attempts()).as("no whole-file attempt was needed").isZero();
        assertThat(throttle.inFlight()).isZero();
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    @Test
    void aFollowingWriteBrokenMidWayFallsBackToTheRetriedWholeFileUpload() throws Exception {
        byte[] data = bytes(6 * MB, 2);
        ResilientStateOutputStream out = stream();
        out.write(data, 0, 3 * MB);
        await(() -> temporaryBytes() >= MB);
        // HDFS loses the file under the writer: its next block request or sync is refused.
        for (FileStatus f : files()) {
            assertThat(client.delete(f.getPath(), false)).isTrue();
        }
        out.write(data, 3 * MB, 3 * MB);
        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(read(handle)).isEqualTo(data);
        assertThat(metrics.pipelineFallbacks()).isEqualTo(1);
        assertThat(metrics.uploadsSucceeded()).isEqualTo(1);
        await(() -> files().size() == 1);
        assertThat(files().get(0).getPath().getName())
                .isEqualTo(new Path(handle.getStreamStateHandleID().getKeyString()).getName());
        assertThat(throttle.inFlight()).isZero();
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    @Test
    void closeDuringAFollowingWriteDeletesEverythingItWrote() throws Exception {
        ResilientStateOutputStream out = stream();
        out.write(bytes(4 * MB, 3));
        await(() -> temporaryBytes() >= MB);

        executor.submit(out::close).get(30, TimeUnit.SECONDS);

        assertThat(throttle.inFlight()).isZero();
        await(() -> files().isEmpty());
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    private List<FileStatus> files() {
        try {
            return Arrays.asList(client.listStatus(new org.apache.hadoop.fs.Path("/ckpt/chk-1")));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Bytes of the temporary files that are in complete blocks (what the NameNode reports). */
    private long temporaryBytes() {
        return files().stream()
                .filter(f -> f.getPath().getName().endsWith(HdfsStore.TEMP_SUFFIX))
                .mapToLong(FileStatus::getLen)
                .sum();
    }

    private static byte[] read(StreamStateHandle handle) throws IOException {
        try (FSDataInputStream in = handle.openInputStream()) {
            return in.readAllBytes();
        }
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > until) {
                throw new AssertionError("condition not met within 30 s");
            }
            Thread.sleep(20);
        }
    }
}
