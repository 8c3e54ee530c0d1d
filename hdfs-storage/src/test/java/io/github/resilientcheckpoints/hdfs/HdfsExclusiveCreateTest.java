package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.storage.jm.MetadataWriter;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.SupportsExclusiveCreate;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.FileAlreadyExistsException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.Path;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code _metadata} is written only where nothing exists: temporary file, hsync, close, then a
 * rename that never replaces. Whatever happens, the temporary file does not stay.
 */
class HdfsExclusiveCreateTest {

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

    private static Path newCheckpoint() {
        return new Path(dfs.uri() + "/ckpt/" + UUID.randomUUID() + "/chk-1");
    }

    private static SupportsExclusiveCreate exclusive() {
        return store.capability(SupportsExclusiveCreate.class)
                .orElseThrow(() -> new AssertionError("the HDFS store cannot create exclusively"));
    }

    private static org.apache.hadoop.fs.Path hadoop(Path p) {
        return new org.apache.hadoop.fs.Path(p.toUri());
    }

    private static byte[] read(Path p) throws IOException {
        try (InputStream in = dfs.fs().open(hadoop(p))) {
            return in.readAllBytes();
        }
    }

    private static List<String> names(Path dir) throws IOException {
        List<String> names = new ArrayList<>();
        for (FileStatus s : dfs.fs().listStatus(hadoop(dir))) {
            names.add(s.getPath().getName());
        }
        return names;
    }

    private static void write(Path p, byte[] bytes) throws IOException {
        try (FSDataOutputStream out = dfs.fs().create(hadoop(p), false)) {
            out.write(bytes);
        }
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void writesWhenNothingExistsAndLeavesNoTemporaryFile() throws Exception {
        Path chk = newCheckpoint();
        Path metadata = new Path(chk, "_metadata");
        byte[] data = bytes(3 * (1 << 20) + 17, 1);

        exclusive().createExclusive(new ByteSource(data), metadata);

        assertThat(read(metadata)).isEqualTo(data);
        assertThat(names(chk)).containsExactly("_metadata");
    }

    @Test
    void refusesWhenAFileExistsAndLeavesItUntouched() throws Exception {
        Path chk = newCheckpoint();
        Path metadata = new Path(chk, "_metadata");
        byte[] original = bytes(1000, 2);
        exclusive().createExclusive(new ByteSource(original), metadata);

        Throwable second =
                catchThrowable(
                        () ->
                                exclusive()
                                        .createExclusive(new ByteSource(bytes(2000, 3)), metadata));

        assertThat(second)
                .isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining(metadata.toString());
        assertThat(((FileAlreadyExistsException) second).getFile()).isEqualTo(metadata.toString());
        assertThat(store.classify(second)).isEqualTo(FailureClass.PERMANENT);
        assertThat(read(metadata)).as("the original bytes").isEqualTo(original);
        assertThat(names(chk)).containsExactly("_metadata");
    }

    @Test
    void refusesWhenADirectoryStandsThere() throws Exception {
        Path chk = newCheckpoint();
        Path metadata = new Path(chk, "_metadata");
        dfs.fs().mkdirs(hadoop(metadata));

        assertThatThrownBy(
                        () -> exclusive().createExclusive(new ByteSource(bytes(10, 4)), metadata))
                .isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining(metadata.toString());
        assertThat(names(metadata)).as("nothing was moved into the directory").isEmpty();
        assertThat(names(chk)).containsExactly("_metadata");
    }

    @Test
    void aFileThatAppearsDuringTheWriteIsNotReplaced() throws Exception {
        Path chk = newCheckpoint();
        Path metadata = new Path(chk, "_metadata");
        byte[] theirs = bytes(500, 5);
        GatedSource ours = new GatedSource(bytes(2 * (1 << 20), 6), 1 << 20);
        ExecutorService executor = Executors.newSingleThreadExecutor();
        try {
            Future<?> write =
                    executor.submit(
                            (Callable<Void>)
                                    () -> {
                                        exclusive().createExclusive(ours, metadata);
                                        return null;
                                    });
            assertThat(ours.reachedGate.await(60, TimeUnit.SECONDS)).isTrue();
            write(metadata, theirs); // another writer wins while ours is half way
            ours.release();

            assertThatThrownBy(() -> write.get(60, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .cause()
                    .isInstanceOf(FileAlreadyExistsException.class)
                    .hasMessageContaining(metadata.toString());
        } finally {
            ours.release();
            executor.shutdownNow();
            assertThat(executor.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(read(metadata)).isEqualTo(theirs);
        assertThat(names(chk)).as("no temporary file is left").containsExactly("_metadata");
    }

    @Test
    void ofTwoConcurrentWritersExactlyOneSucceeds() throws Exception {
        Path chk = newCheckpoint();
        Path metadata = new Path(chk, "_metadata");
        byte[] a = bytes(300_000, 7);
        byte[] b = bytes(300_000, 8);
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService executor = Executors.newFixedThreadPool(2);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (byte[] data : List.of(a, b)) {
                results.add(
                        executor.submit(
                                () -> {
                                    start.await();
                                    try {
                                        exclusive().createExclusive(new ByteSource(data), metadata);
                                        return true;
                                    } catch (FileAlreadyExistsException lost) {
                                        return false;
                                    }
                                }));
            }
            start.countDown();
            boolean aWon = results.get(0).get(60, TimeUnit.SECONDS);
            boolean bWon = results.get(1).get(60, TimeUnit.SECONDS);
            assertThat(aWon ^ bWon).as("exactly one writer succeeds").isTrue();
            assertThat(read(metadata)).isEqualTo(aWon ? a : b);
        } finally {
            executor.shutdownNow();
            assertThat(executor.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(names(chk)).containsExactly("_metadata");
    }

    @Test
    void aFailingSourceLeavesNothingBehind() throws Exception {
        Path chk = newCheckpoint();
        dfs.fs().mkdirs(hadoop(chk));
        Path metadata = new Path(chk, "_metadata");
        UploadSource broken =
                new UploadSource() {
                    @Override
                    public long length() {
                        return 1 << 20;
                    }

                    @Override
                    public InputStream open() {
                        return new ByteArrayInputStream(new byte[1000]); // ends early
                    }
                };

        assertThatThrownBy(() -> exclusive().createExclusive(broken, metadata))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(metadata.toString());
        assertThat(names(chk)).as("neither the target nor a temporary file").isEmpty();
    }

    @Test
    void anUploadNeverReplacesAnExistingFile() throws Exception {
        Path chk = newCheckpoint();
        Path target = new Path(chk, "_metadata");
        byte[] original = bytes(100, 9);
        write(target, original);

        Throwable thrown =
                catchThrowable(() -> store.upload(new ByteSource(bytes(50, 10)), target));

        assertThat(thrown)
                .isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining(target.toString());
        assertThat(store.classify(thrown))
                .as("an existing file is not retried (a retry would clear the path first)")
                .isEqualTo(FailureClass.PERMANENT);
        assertThat(read(target)).isEqualTo(original);
        assertThat(names(chk)).containsExactly("_metadata");
    }

    @Test
    void theMetadataWriterNeverReplacesAnExistingMetadataFile() throws Exception {
        Path chk = newCheckpoint();
        Path metadata = new Path(chk, "_metadata");
        byte[] original = bytes(100, 11);
        write(metadata, original);
        MetadataWriter writer =
                new MetadataWriter(
                        store,
                        new RetryPolicy(
                                3,
                                Duration.ofMillis(1),
                                Duration.ofMillis(1),
                                Duration.ofSeconds(30)),
                        Ticker.SYSTEM,
                        Sleeper.SYSTEM,
                        () -> 0.5,
                        new StorageMetrics(),
                        Redactor.NONE,
                        Runnable::run,
                        Duration.ofMinutes(1).toNanos());

        assertThatThrownBy(
                        () ->
                                writer.write(
                                        bytes(200, 12),
                                        metadata,
                                        System.nanoTime() + TimeUnit.SECONDS.toNanos(60)))
                .isInstanceOf(IOException.class);
        assertThat(read(metadata))
                .as("an existing _metadata is never replaced")
                .isEqualTo(original);
        assertThat(Arrays.asList(names(chk).toArray())).containsExactly("_metadata");
    }
}
