package io.github.resilientcheckpoints.storage;

import static io.github.resilientcheckpoints.storage.ResilientStateOutputStreamTest.randomBytes;
import static io.github.resilientcheckpoints.storage.ResilientStateOutputStreamTest.readAll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.store.SupportsSpillAdoption;
import io.github.resilientcheckpoints.testing.ForwardingStore;
import io.github.resilientcheckpoints.testing.SpillFiles;
import io.github.resilientcheckpoints.testing.Workers;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.UploadDeadline;
import java.io.FileDescriptor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A local target ({@code file://}) on the same file system as the spill directory: the spill file
 * is written in the checkpoint directory under the state file's name, and becomes the state file
 * (fsync) instead of being copied a second time. On another file system, or when the fsync fails,
 * the bytes go the ordinary way (following write, or the retried whole-file upload).
 */
class SpillAdoptionTest {

    static final int BUFFER = 32 * 1024;

    @TempDir java.nio.file.Path remote;
    @TempDir java.nio.file.Path spill;

    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final StorageMetrics metrics = new StorageMetrics();

    @AfterEach
    void tearDown() throws InterruptedException {
        executor.shutdownNow();
        assertThat(executor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private ResilientStateOutputStream stream(CheckpointStore store, java.nio.file.Path spillDir)
            throws IOException {
        return new ResilientStateOutputStream(
                new Path(remote.toUri()),
                true,
                1024,
                BUFFER,
                Workers.services(
                        store, Workers.fastPolicy(3), executor, spillDir, metrics, Redactor.NONE),
                Ticker.SYSTEM.nanoTime() + TimeUnit.MINUTES.toNanos(5));
    }

    @Test
    void onTheSameFileSystemTheSpillFileBecomesTheStateFileWithoutASecondCopy() throws Exception {
        assumeTrue(device(spill).equals(device(remote)), "both temp dirs on one file system");
        byte[] data = randomBytes(6 << 20, 1);
        ResilientStateOutputStream out = stream(new FlinkFileSystemStore(), spill);
        out.write(data, 0, 3 << 20);
        java.nio.file.Path spillFile = out.spillFile();
        Object spillInode = Files.getAttribute(spillFile, "unix:ino");
        out.write(data, 3 << 20, 3 << 20);
        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(readAll(handle)).isEqualTo(data);
        java.nio.file.Path stateFile = file(handle);
        assertThat(stateFile)
                .as("written in place under its name, as Flink's stream writes its file")
                .isEqualTo(spillFile);
        assertThat(Files.getAttribute(stateFile, "unix:ino"))
                .as("the state file is the spill file, not a copy")
                .isEqualTo(spillInode);
        assertThat(Files.getAttribute(stateFile, "unix:nlink")).isEqualTo(1);
        assertThat(remoteFiles()).containsExactly(stateFile);
        assertThat(SpillFiles.under(spill)).isEmpty();
        assertThat(metrics.pipelinedUploads()).as("nothing followed the spill file").isZero();
        assertThat(metrics.attempts()).as("no copy was attempted").isZero();
        assertThat(metrics.uploadsSucceeded()).isEqualTo(1);
        assertThat(metrics.bytesUploaded()).isEqualTo(data.length);
        assertThat(metrics.spillFilesAdopted()).isEqualTo(1);
    }

    @Test
    void taskOwnedStateIsNotWrittenInPlaceWhileItsStreamMayStayOpenAnInterval() throws Exception {
        assumeTrue(device(spill).equals(device(remote)), "both temp dirs on one file system");
        byte[] data = randomBytes(3 << 20, 5);
        ResilientStateOutputStream out =
                new ResilientStateOutputStream(
                        new Path(remote.toUri()),
                        false,
                        1024,
                        BUFFER,
                        Workers.services(
                                new FlinkFileSystemStore(),
                                Workers.fastPolicy(3),
                                executor,
                                spill,
                                metrics,
                                Redactor.NONE),
                        UploadDeadline.fromUploadStart(TimeUnit.MINUTES.toNanos(5), Ticker.SYSTEM));
        out.write(data);
        assertThat(remoteFiles())
                .as(
                        "nothing in the task-owned directory before the upload: the janitor judges its"
                                + " files by age")
                .isEmpty();
        assertThat(SpillFiles.under(spill)).hasSize(1);
        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(remoteFiles()).containsExactly(file(handle));
        assertThat(metrics.spillFilesAdopted()).isZero();
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    @Test
    void aSpillFileThatCannotBePutInPlaceIsUploadedTheOrdinaryWay() throws Exception {
        assumeTrue(device(spill).equals(device(remote)), "both temp dirs on one file system");
        byte[] data = randomBytes(3 << 20, 3);
        ResilientStateOutputStream out =
                stream(
                        new AdoptionOverride(
                                (file, descriptor, target) -> {
                                    throw new IOException("fsync refused (test)");
                                }),
                        spill);
        out.write(data);
        java.nio.file.Path spillFile = out.spillFile();
        Object spillInode = Files.getAttribute(spillFile, "unix:ino");
        StreamStateHandle handle = out.closeAndGetHandle();

        assertThat(readAll(handle)).isEqualTo(data);
        assertThat(Files.getAttribute(file(handle), "unix:ino")).isNotEqualTo(spillInode);
        assertThat(remoteFiles()).containsExactly(file(handle));
        assertThat(metrics.spillFilesAdopted()).isZero();
        assertThat(metrics.attempts()).as("the whole-file upload").isEqualTo(1);
        assertThat(spillFile).as("the file written in place is deleted").doesNotExist();
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    @Test
    void aStreamClosedWhileItsSpillFileIsPutInPlaceLeavesNothingBehind() throws Exception {
        assumeTrue(device(spill).equals(device(remote)), "both temp dirs on one file system");
        CountDownLatch adopting = new CountDownLatch(1);
        CountDownLatch closed = new CountDownLatch(1);
        FlinkFileSystemStore real = new FlinkFileSystemStore();
        ResilientStateOutputStream out =
                stream(
                        new AdoptionOverride(
                                (file, descriptor, target) -> {
                                    adopting.countDown();
                                    // the task is cancelled while the file is synced
                                    closed.await();
                                    return real.adopt(file, descriptor, target);
                                }),
                        spill);
        out.write(randomBytes(3 << 20, 4));
        Future<StreamStateHandle> handle = executor.submit(out::closeAndGetHandle);
        adopting.await();
        out.close();
        closed.countDown();

        // Either the fsync ran and the state file is deleted again, or the file was gone first and
        // the upload that replaces the adoption sees the cancellation: no handle, nothing left.
        assertThatThrownBy(() -> handle.get(10, TimeUnit.SECONDS))
                .hasCauseInstanceOf(IOException.class);
        // an adopted file is deleted on a discard thread, maybe after the handle failed
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!remoteFiles().isEmpty() && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertThat(remoteFiles()).isEmpty();
        assertThat(SpillFiles.under(spill)).isEmpty();
    }

    @Test
    void onAnotherFileSystemTheRemoteWriteFollowsTheSpillFileAsBefore() throws Exception {
        java.nio.file.Path shm = Paths.get("/dev/shm");
        assumeTrue(
                Files.isDirectory(shm) && Files.isWritable(shm),
                "/dev/shm is a second file system");
        assumeTrue(!device(shm).equals(device(remote)), "/dev/shm is a second file system");
        java.nio.file.Path otherSpill = Files.createTempDirectory(shm, "rcs-spill-test");
        try {
            byte[] data = randomBytes(6 << 20, 2);
            ResilientStateOutputStream out = stream(new FlinkFileSystemStore(), otherSpill);
            out.write(data);
            StreamStateHandle handle = out.closeAndGetHandle();

            assertThat(readAll(handle)).isEqualTo(data);
            assertThat(metrics.pipelinedUploads()).isEqualTo(1);
            assertThat(metrics.spillFilesAdopted()).isZero();
            assertThat(Files.getAttribute(file(handle), "unix:nlink")).isEqualTo(1);
            assertThat(SpillFiles.under(otherSpill)).isEmpty();
        } finally {
            try (Stream<java.nio.file.Path> files = Files.walk(otherSpill)) {
                for (java.nio.file.Path f : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(f);
                }
            }
        }
    }

    /** A function that may throw, as an adoption does. */
    private interface Adopt {
        Path apply(java.nio.file.Path file, FileDescriptor descriptor, Path target)
                throws Exception;
    }

    /**
     * The generic store with its adoption replaced (it always writes in place); everything else is
     * the generic store's, so the ordinary upload after a failed adoption is real.
     */
    private static final class AdoptionOverride extends ForwardingStore {
        private final SupportsSpillAdoption adoption;

        AdoptionOverride(Adopt adopt) {
            super(new FlinkFileSystemStore());
            this.adoption =
                    new SupportsSpillAdoption() {
                        @Override
                        public java.nio.file.Path adoptionDirectory(
                                java.nio.file.Path spillDirectory, Path targetDirectory) {
                            return Paths.get(targetDirectory.toUri());
                        }

                        @Override
                        public Path adopt(
                                java.nio.file.Path file, FileDescriptor descriptor, Path target)
                                throws IOException {
                            try {
                                return adopt.apply(file, descriptor, target);
                            } catch (IOException e) {
                                throw e;
                            } catch (Exception e) {
                                throw new IOException(e);
                            }
                        }
                    };
        }

        @Override
        public <T> Optional<T> capability(Class<T> type) {
            return type == SupportsSpillAdoption.class
                    ? Optional.of(type.cast(adoption))
                    : real.capability(type);
        }
    }

    private static Object device(java.nio.file.Path p) throws IOException {
        return Files.getAttribute(p, "unix:dev");
    }

    private static java.nio.file.Path file(StreamStateHandle handle) {
        return Paths.get(((FileStateHandle) handle).getFilePath().toUri());
    }

    private List<java.nio.file.Path> remoteFiles() throws IOException {
        try (Stream<java.nio.file.Path> s = Files.list(remote)) {
            return s.toList();
        }
    }
}
