package io.github.resilientcheckpoints.store;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import javax.annotation.Nullable;
import org.apache.flink.annotation.VisibleForTesting;
import org.apache.flink.core.fs.EntropyInjector;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.OutputStreamAndPath;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;

/**
 * The generic store: any scheme Flink has a {@link FileSystem} for ({@code file://}, {@code
 * hdfs://}, {@code s3://} through a plugin). Uploads copy the source into a new file and {@code
 * sync()} it before returning, which is what Flink's own stream does before handing out a handle.
 * The following write ({@link SupportsStreamingUpload}) writes the same file while the state is
 * still written, and commits it the same way: {@code sync}, then close.
 *
 * <p>A local target ({@code file://}) on the same file system as the spill file adopts the spill
 * file ({@link SupportsSpillAdoption}): a hard link into place and {@code fsync} instead of a
 * second copy.
 *
 * <p>It uses {@link FileSystem#getUnguardedFileSystem}: uploads run on our own threads, and the
 * guarded wrapper Flink gives task threads would close our streams when the task thread ends.
 */
public final class FlinkFileSystemStore
        implements CheckpointStore,
                SupportsListing,
                SupportsBatchDelete,
                SupportsStreamingUpload,
                SupportsSpillAdoption {

    private static final int COPY_BUFFER = 64 * 1024;

    private final LocalFiles localFiles;

    public FlinkFileSystemStore() {
        this(LocalFiles.REAL);
    }

    @VisibleForTesting
    FlinkFileSystemStore(LocalFiles localFiles) {
        this.localFiles = localFiles;
    }

    @Override
    public Path upload(UploadSource source, Path target) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(target.toUri());
        // Entropy injection (s3.entropy.key) rewrites data file paths exactly as Flink does.
        OutputStreamAndPath created =
                EntropyInjector.createEntropyAware(fs, target, FileSystem.WriteMode.NO_OVERWRITE);
        Path written = created.path();
        boolean done = false;
        try (FSDataOutputStream out = created.stream();
                InputStream in = source.open()) {
            byte[] buffer = new byte[COPY_BUFFER];
            long remaining = source.length();
            while (remaining > 0) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new InterruptedIOException("upload to " + written + " was interrupted");
                }
                int n = in.read(buffer, 0, (int) Math.min(buffer.length, remaining));
                if (n < 0) {
                    throw new IOException(
                            "spill source ended "
                                    + remaining
                                    + " bytes early while uploading to "
                                    + written);
                }
                out.write(buffer, 0, n);
                remaining -= n;
            }
            out.flush();
            out.sync();
            done = true;
        } finally {
            if (!done) {
                deleteQuietly(fs, written);
            }
        }
        return written;
    }

    @Override
    public StreamingUpload startStreamingUpload(Path target) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(target.toUri());
        OutputStreamAndPath created =
                EntropyInjector.createEntropyAware(fs, target, FileSystem.WriteMode.NO_OVERWRITE);
        return new FollowingWrite(fs, created.stream(), created.path());
    }

    /** One file written while the state is still written; committed by sync + close. */
    private static final class FollowingWrite implements StreamingUpload {
        private final FileSystem fs;
        private final FSDataOutputStream out;
        private final Path written;

        FollowingWrite(FileSystem fs, FSDataOutputStream out, Path written) {
            this.fs = fs;
            this.out = out;
            this.written = written;
        }

        @Override
        public void write(byte[] bytes, int offset, int length) throws IOException {
            out.write(bytes, offset, length);
        }

        @Override
        public Path commit() throws IOException {
            out.flush();
            out.sync();
            out.close();
            return written;
        }

        @Override
        public void abort() {
            try {
                out.close();
            } catch (IOException | RuntimeException ignored) {
                // the file is deleted next; a broken stream has nothing more to say
            }
            deleteQuietly(fs, written);
        }
    }

    @Override
    public boolean canAdopt(java.nio.file.Path spillFile, Path targetDirectory) {
        try {
            java.nio.file.Path directory = localFile(targetDirectory);
            return directory != null
                    && Files.getAttribute(spillFile, "unix:dev")
                            .equals(Files.getAttribute(directory, "unix:dev"));
        } catch (IOException | RuntimeException notHere) {
            // no such attribute (not a Unix file system), no directory yet, ...: copy instead
            return false;
        }
    }

    @Override
    public Path adopt(java.nio.file.Path spillFile, Path target) throws IOException {
        java.nio.file.Path file = localFile(target);
        if (file == null) {
            throw new IOException(target + " is not on the local file system");
        }
        // Durable before it is in place, as Flink's own stream syncs its file before the handle.
        // Named in place first, then synced, as Flink's own stream creates its file in the
        // checkpoint directory and syncs it last: the file's fsync then also makes durable the
        // directory entry it was given last (ext4 with or without a journal, XFS). Synced first and
        // linked after, the state file's name in the checkpoint directory would not be durable when
        // the handle is returned.
        localFiles.link(file, spillFile);
        try {
            localFiles.force(file);
        } catch (IOException | RuntimeException e) {
            // The spill name still holds the bytes: the caller uploads them the ordinary way.
            try {
                Files.deleteIfExists(file);
            } catch (IOException | RuntimeException notRemoved) {
                e.addSuppressed(notRemoved);
            }
            throw e;
        }
        return target;
    }

    /**
     * The local file operations spill adoption is made of. Which name an {@code fsync} makes
     * durable depends on their order, which no test can observe on a real disk short of cutting its
     * power: a test records it instead.
     */
    @VisibleForTesting
    interface LocalFiles {
        LocalFiles REAL =
                new LocalFiles() {
                    @Override
                    public void force(java.nio.file.Path file) throws IOException {
                        try (FileChannel channel =
                                FileChannel.open(file, StandardOpenOption.WRITE)) {
                            channel.force(true);
                        }
                    }

                    @Override
                    public void link(java.nio.file.Path link, java.nio.file.Path existing)
                            throws IOException {
                        Files.createLink(link, existing);
                    }
                };

        /** {@code fsync}: the file's bytes and metadata. */
        void force(java.nio.file.Path file) throws IOException;

        /** A second name for an existing file. */
        void link(java.nio.file.Path link, java.nio.file.Path existing) throws IOException;
    }

    /** The java.nio file behind a path of Flink's own local file system; null for any other. */
    @Nullable
    private static java.nio.file.Path localFile(Path path) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(path.toUri());
        // Exactly Flink's class: a wrapper or another file system registered for file:// may do
        // more than write bytes (and must see them).
        return fs.getClass() == LocalFileSystem.class
                ? ((LocalFileSystem) fs).pathToFile(path).toPath()
                : null;
    }

    /** The target with Flink's entropy injected, if its file system injects entropy. */
    @Override
    public Path resolveTarget(Path target) throws IOException {
        return EntropyInjector.addEntropy(
                FileSystem.getUnguardedFileSystem(target.toUri()), target);
    }

    @Override
    public void delete(Path path) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(path.toUri());
        fs.delete(path, false);
    }

    @Override
    public List<StoredFile> listFiles(Path directory) throws IOException {
        FileSystem fs = FileSystem.getUnguardedFileSystem(directory.toUri());
        List<StoredFile> files = new ArrayList<>();
        if (fs.exists(directory)) {
            collect(fs, directory, files);
        }
        return files;
    }

    private static void collect(FileSystem fs, Path directory, List<StoredFile> into)
            throws IOException {
        FileStatus[] statuses = fs.listStatus(directory);
        if (statuses == null) {
            return;
        }
        for (FileStatus status : statuses) {
            if (isSymbolicLink(status.getPath())) {
                // Never follow a link: what it points to may lie outside the checkpoint directory.
                continue;
            }
            if (status.isDir()) {
                collect(fs, status.getPath(), into);
            } else {
                into.add(
                        new StoredFile(
                                status.getPath(), status.getLen(), status.getModificationTime()));
            }
        }
    }

    private static boolean isSymbolicLink(Path path) {
        URI uri = path.toUri();
        if (uri.getScheme() != null && !"file".equals(uri.getScheme())) {
            return false;
        }
        return Files.isSymbolicLink(
                Paths.get(uri.getScheme() == null ? URI.create("file://" + uri.getPath()) : uri));
    }

    /** Flink's FileSystem has no bulk delete: one request per file, failures collected. */
    @Override
    public List<Path> deleteAll(Collection<Path> paths) {
        return SupportsBatchDelete.deleteEach(this, paths);
    }

    @Override
    public FailureClass classify(Throwable failure) {
        return GenericFailureClassifier.classify(failure);
    }

    @Override
    public String name() {
        return "flink-fs";
    }

    @Override
    public void close() {
        // Flink owns and caches its FileSystem instances; nothing of ours to release.
    }

    private static void deleteQuietly(FileSystem fs, Path path) {
        try {
            fs.delete(path, false);
        } catch (IOException | RuntimeException ignored) {
            // The caller deletes the target once more; a leftover is found by cleanup.
        }
    }
}
