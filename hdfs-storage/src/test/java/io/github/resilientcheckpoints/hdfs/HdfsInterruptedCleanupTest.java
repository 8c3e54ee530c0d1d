package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.flink.core.fs.Path;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cleanup (deleting the temporary file of a failed upload, deleting an abandoned attempt's file)
 * happens on cancelled, hence interrupted, threads; the Hadoop client refuses RPCs on such a
 * thread. The store must clean up anyway and leave the interrupt flag as it found it.
 */
class HdfsInterruptedCleanupTest {

    /**
     * These tests interrupt the JUnit thread on purpose: a flag left behind by a failed assertion
     * would make the next test class's store calls look cancelled (no resend).
     */
    @org.junit.jupiter.api.AfterEach
    void leaveNoInterruptBehind() {
        Thread.interrupted();
    }

    static final int MB = 1 << 20;

    @TempDir static java.nio.file.Path base;

    private static MiniDfs dfs;
    private static HdfsStore store;

    @BeforeAll
    static void startHdfs() throws IOException {
        dfs = new MiniDfs(base, 1);
        store =
                new HdfsStore(
                        FileSystem.newInstance(dfs.uri(), dfs.conf()),
                        1,
                        null,
                        Duration.ofSeconds(10),
                        Ticker.SYSTEM);
    }

    @AfterAll
    static void stopHdfs() throws IOException {
        if (store != null) {
            store.close();
        }
        if (dfs != null) {
            dfs.close();
        }
    }

    @AfterEach
    void clearInterrupt() {
        Thread.interrupted();
    }

    private static Path newDirectory() {
        return new Path(dfs.uri() + "/ckpt/" + UUID.randomUUID() + "/chk-1");
    }

    private static FileStatus[] list(Path directory) throws IOException {
        org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(directory.toUri());
        return dfs.fs().exists(dir) ? dfs.fs().listStatus(dir) : new FileStatus[0];
    }

    @Test
    void anUploadWhoseThreadIsInterruptedMidUploadLeavesNoTemporaryFile() throws Exception {
        Path dir = newDirectory();
        byte[] data = new byte[3 * MB];
        GatedSource source = new GatedSource(data, MB);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread uploader =
                new Thread(
                        () -> {
                            try {
                                store.upload(source, new Path(dir, "state"));
                            } catch (Throwable t) {
                                failure.set(t);
                            }
                        },
                        "interrupted-uploader");
        uploader.start();
        try {
            assertThat(source.reachedGate.await(60, TimeUnit.SECONDS))
                    .as("the upload is half way")
                    .isTrue();
            assertThat(list(dir)).as("the temporary file exists mid-upload").hasSize(1);
            uploader.interrupt();
            uploader.join(TimeUnit.SECONDS.toMillis(60));
            assertThat(uploader.isAlive()).isFalse();
        } finally {
            source.release();
        }
        assertThat(failure.get()).isInstanceOf(IOException.class);
        assertThat(Arrays.stream(list(dir)).map(s -> s.getPath().getName()))
                .as("no temporary (or partial) file is left")
                .isEmpty();
    }

    @Test
    void aDeleteFromAnInterruptedThreadDeletesAndKeepsTheInterrupt() throws Exception {
        Path file = new Path(newDirectory(), "abandoned");
        org.apache.hadoop.fs.Path hadoopFile = new org.apache.hadoop.fs.Path(file.toUri());
        try (FSDataOutputStream out = dfs.fs().create(hadoopFile)) {
            out.write(new byte[] {1, 2, 3});
        }

        Thread.currentThread()
                .interrupt(); // as an abandoned attempt's thread, cleaning up after itself
        store.delete(file);
        assertThat(Thread.interrupted()).as("the interrupt flag is kept").isTrue();

        assertThat(dfs.fs().exists(hadoopFile)).isFalse();
    }
}
