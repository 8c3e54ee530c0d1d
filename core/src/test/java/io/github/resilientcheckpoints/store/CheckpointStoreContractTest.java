package io.github.resilientcheckpoints.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.resilientcheckpoints.testing.ByteSource;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What every {@link CheckpointStore} promises, run against each adapter (generic over the local
 * file system, HDFS, …). Reads go through Flink's own {@link FileSystem} for the scheme: what a
 * store writes must be restorable by plain Flink.
 */
public abstract class CheckpointStoreContractTest {

    /** The store under test; the same instance for one test. */
    protected abstract CheckpointStore store() throws IOException;

    /** A fresh, empty directory in the store for this test. */
    protected abstract Path root() throws IOException;

    protected Path fresh(String directory) throws IOException {
        return new Path(new Path(root(), directory), UUID.randomUUID().toString());
    }

    // Zero-byte files never reach a store (an empty stream has no handle); flink-s3-fs-native also
    // reports empty objects as missing, so the contract starts at one byte.
    @ParameterizedTest
    @ValueSource(ints = {1, 65_537, 5 << 20})
    void uploadedBytesReadBackThroughFlink(int size) throws Exception {
        byte[] data = bytes(size, size);
        Path target = fresh("chk-1");
        Path written = store().upload(new ByteSource(data), target);
        assertThat(readThroughFlink(written)).isEqualTo(data);
        assertThat(written.getParent().getName()).isEqualTo("chk-1");
    }

    @Test
    void uploadCreatesMissingDirectories() throws Exception {
        Path target = new Path(new Path(new Path(root(), "a/b/c"), "shared"), "file");
        Path written = store().upload(new ByteSource(bytes(100, 1)), target);
        assertThat(readThroughFlink(written)).hasSize(100);
    }

    @Test
    void deleteIsIdempotent() throws Exception {
        Path written = store().upload(new ByteSource(bytes(10, 2)), fresh("x"));
        store().delete(written);
        store().delete(written);
        FileSystem fs = FileSystem.get(written.toUri());
        assertThat(fs.exists(written)).isFalse();
    }

    @Test
    void aFailingSourceLeavesNothingBehind() throws Exception {
        Path target = fresh("chk-2");
        UploadSource broken =
                new UploadSource() {
                    @Override
                    public long length() {
                        return 1 << 20;
                    }

                    @Override
                    public InputStream open() {
                        return new InputStream() {
                            int n;

                            @Override
                            public int read() throws IOException {
                                if (++n > 300_000) {
                                    throw new IOException("local disk read error");
                                }
                                return 7;
                            }
                        };
                    }
                };
        assertThatThrownBy(() -> store().upload(broken, target))
                .hasMessageContaining("local disk read error");
        assertNothingLeftBehind(target);
    }

    /** After a failed upload to {@code target}: no file there, nor beside it (temporary files). */
    protected void assertNothingLeftBehind(Path target) throws IOException {
        FileSystem fs = FileSystem.get(target.toUri());
        assertThat(fs.exists(target)).isFalse();
        FileStatusCheck.assertNoFiles(fs, target.getParent());
    }

    @Test
    void listingReportsSizesAndAges() throws Exception {
        assumeTrue(
                store() instanceof SupportsListing, "the store does not implement SupportsListing");
        long before = System.currentTimeMillis() - 60_000;
        Path dir = new Path(root(), "listed");
        List<Path> written = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            written.add(
                    store().upload(
                                    new ByteSource(bytes(1000 + i, i)),
                                    new Path(new Path(dir, "sub" + (i % 2)), "f" + i)));
        }
        List<StoredFile> files = ((SupportsListing) store()).listFiles(dir);
        assertThat(files)
                .extracting(f -> f.path().getName())
                .containsExactlyInAnyOrder("f0", "f1", "f2", "f3", "f4");
        assertThat(files)
                .allSatisfy(
                        f -> {
                            assertThat(f.size()).isBetween(1000L, 1004L);
                            assertThat(f.modificationTimeMillis()).isGreaterThan(before);
                        });
        assertThat(((SupportsListing) store()).listFiles(new Path(root(), "missing"))).isEmpty();
    }

    @Test
    void batchDeleteRemovesEveryFile() throws Exception {
        assumeTrue(
                store() instanceof SupportsBatchDelete,
                "the store does not implement SupportsBatchDelete");
        List<Path> written = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            written.add(store().upload(new ByteSource(bytes(10, i)), fresh("batch")));
        }
        written.add(new Path(root(), "never-existed"));
        assertThat(((SupportsBatchDelete) store()).deleteAll(written)).isEmpty();
        FileSystem fs = FileSystem.get(written.get(0).toUri());
        for (Path p : written) {
            assertThat(fs.exists(p)).as(p.toString()).isFalse();
        }
    }

    protected static byte[] readThroughFlink(Path path) throws IOException {
        try (FSDataInputStream in = FileSystem.get(path.toUri()).open(path)) {
            return in.readAllBytes();
        }
    }

    protected static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Helpers on Flink's FileSystem. */
    protected static final class FileStatusCheck {
        private FileStatusCheck() {}

        /** No file at all (temporary ones included) in {@code dir}, if it exists. */
        public static void assertNoFiles(FileSystem fs, Path dir) throws IOException {
            if (!fs.exists(dir)) {
                return;
            }
            assertThat(
                            Arrays.stream(fs.listStatus(dir))
                                    .map(st -> st.getPath() + " (" + st.getLen() + " bytes)"))
                    .isEmpty();
        }
    }
}
