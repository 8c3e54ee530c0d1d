package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.CheckpointUploadException;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.UploadCancellation;
import java.io.IOException;
import java.time.Duration;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.Path;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.SafeModeAction;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.protocol.HdfsConstants;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HDFS adapter under DataNode loss, NameNode trouble and quotas, on a real 3-DataNode HDFS. */
class HdfsFaultIT {

    static final int MB = 1 << 20;

    @TempDir java.nio.file.Path base;

    private MiniDfs dfs;
    private HdfsStore store;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final StorageMetrics metrics = new StorageMetrics();

    @BeforeEach
    void start() throws IOException {
        dfs = new MiniDfs(base, 3);
        store =
                new HdfsStore(
                        FileSystem.newInstance(dfs.uri(), dfs.conf()),
                        3,
                        null,
                        Duration.ofSeconds(10),
                        Ticker.SYSTEM);
    }

    @AfterEach
    void stop() throws Exception {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        store.close();
        dfs.close();
    }

    private RetryingUploader uploader() {
        return new RetryingUploader(
                store,
                new RetryPolicy(
                        20, Duration.ofMillis(100), Duration.ofSeconds(1), Duration.ofSeconds(60)),
                executor,
                Ticker.SYSTEM,
                RetryingUploader.threadLocalRandom(),
                metrics,
                Redactor.NONE);
    }

    private Path dir(String name) {
        return new Path(dfs.uri() + "/ckpt/" + name);
    }

    private Future<Path> uploadAsync(UploadSource source, Path dir) {
        return executor.submit(
                () ->
                        uploader()
                                .upload(
                                        source,
                                        () -> new Path(dir, UUID.randomUUID().toString()),
                                        System.nanoTime() + TimeUnit.MINUTES.toNanos(2),
                                        new UploadCancellation()));
    }

    @Test
    void aReaderNeverSeesAPartialFile() throws Exception {
        byte[] data = bytes(4 * MB, 1);
        GatedSource source = new GatedSource(data, 2 * MB);
        Path chk = dir("chk-1");
        Future<Path> upload = uploadAsync(source, chk);
        assertThat(source.reachedGate.await(30, TimeUnit.SECONDS)).isTrue();

        DistributedFileSystem fs = dfs.fs();
        FileStatus[] during = fs.listStatus(new org.apache.hadoop.fs.Path(chk.toUri()));
        assertThat(during).as("only the hidden temporary file exists mid-upload").hasSize(1);
        assertThat(during[0].getPath().getName()).startsWith(".").endsWith(HdfsStore.TEMP_SUFFIX);

        source.release();
        Path written = upload.get(60, TimeUnit.SECONDS);
        assertThat(read(written)).isEqualTo(data);
        assertThat(fs.listStatus(new org.apache.hadoop.fs.Path(chk.toUri()))).hasSize(1);
    }

    @Test
    void aDataNodeStoppedMidUploadDoesNotLoseTheUpload() throws Exception {
        byte[] data = bytes(6 * MB, 2);
        GatedSource source = new GatedSource(data, 3 * MB);
        Future<Path> upload = uploadAsync(source, dir("chk-2"));
        assertThat(source.reachedGate.await(30, TimeUnit.SECONDS)).isTrue();

        // Replication 3 on 3 DataNodes: every DataNode is in the write pipeline.
        MiniDFSCluster.DataNodeProperties stopped = dfs.cluster.stopDataNode(0);
        assertThat(stopped).isNotNull();
        source.release();

        Path written = upload.get(120, TimeUnit.SECONDS);
        assertThat(read(written)).isEqualTo(data);
    }

    @Test
    void safeModeIsRetriedUntilTheNameNodeAcceptsWritesAgain() throws Exception {
        DistributedFileSystem fs = dfs.fs();
        fs.setSafeMode(SafeModeAction.ENTER);
        byte[] data = bytes(2 * MB, 3);
        Future<Path> upload = uploadAsync(new ByteSource(data), dir("chk-3"));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (metrics.failures(FailureClass.TRANSIENT) < 2 && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertThat(metrics.failures(FailureClass.TRANSIENT))
                .as("SafeModeException is transient")
                .isGreaterThanOrEqualTo(2);
        fs.setSafeMode(SafeModeAction.LEAVE);

        Path written = upload.get(60, TimeUnit.SECONDS);
        assertThat(read(written)).isEqualTo(data);
        assertThat(metrics.failures(FailureClass.PERMANENT)).isZero();
    }

    @Test
    void aNameNodeRestartDuringUploadIsRidOut() throws Exception {
        byte[] data = bytes(3 * MB, 4);
        GatedSource source = new GatedSource(data, MB);
        Future<Path> upload = uploadAsync(source, dir("chk-4"));
        assertThat(source.reachedGate.await(30, TimeUnit.SECONDS)).isTrue();
        dfs.cluster.restartNameNode(true);
        source.release();

        Path written = upload.get(120, TimeUnit.SECONDS);
        assertThat(read(written)).isEqualTo(data);
    }

    @Test
    void aSpaceQuotaSmallerThanTheStateFailsFastAndClearly() throws Exception {
        DistributedFileSystem fs = dfs.fs();
        org.apache.hadoop.fs.Path quotaDir = new org.apache.hadoop.fs.Path("/ckpt/quota");
        fs.mkdirs(quotaDir);
        fs.setQuota(quotaDir, HdfsConstants.QUOTA_DONT_SET, 4L * MB);
        byte[] data = bytes(8 * MB, 5);

        assertThatThrownBy(
                        () ->
                                uploadAsync(new ByteSource(data), dir("quota/chk-5"))
                                        .get(60, TimeUnit.SECONDS))
                .cause()
                .isInstanceOfSatisfying(
                        CheckpointUploadException.class,
                        e -> {
                            assertThat(e.attempts()).isEqualTo(1);
                            assertThat(e.failureClass()).isEqualTo(FailureClass.PERMANENT);
                        })
                .hasMessageContaining("space quota of '" + dfs.uri() + "/ckpt/quota'")
                .hasMessageContaining("quota 4194304 bytes")
                .hasMessageContaining("used 0");
        assertThat(fs.getContentSummary(quotaDir).getSpaceConsumed())
                .as("nothing was written")
                .isZero();
        assertThat(fs.listFiles(quotaDir, true).hasNext()).isFalse();
    }

    private byte[] read(Path path) throws IOException {
        try (var in = dfs.fs().open(new org.apache.hadoop.fs.Path(path.toUri()))) {
            return in.readAllBytes();
        }
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
