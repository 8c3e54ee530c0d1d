package io.github.resilientcheckpoints.store;

import java.io.FileDescriptor;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Paths;
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
 * <p>A local target ({@code file://}) on the same file system as the spill directory adopts the
 * spill file ({@link SupportsSpillAdoption}): the stream writes it in the checkpoint directory
 * under its final name, and {@code fsync} makes it the state file, with no second copy.
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
    @Nullable
    public java.nio.file.Path adoptionDirectory(
            java.nio.file.Path spillDirectory, Path targetDirectory) {
        try {
            java.nio.file.Path directory = localFile(targetDirectory);
            return directory != null
                            && Files.getAttribute(spillDirectory, "unix:dev")
                                    .equals(Files.getAttribute(directory, "unix:dev"))
                    ? directory
                    : null;
        } catch (IOException | RuntimeException notHere) {
            // no such attribute (not a Unix file system), no directory yet, ...: copy instead
            return null;
        }
    }

    @Override
    public Path adopt(java.nio.file.Path file, FileDescriptor descriptor, Path target)
            throws IOException {
        java.nio.file.Path expected = localFile(target);
        if (!file.equals(expected)) {
            throw new IOException(file + " is not the local file behind " + target);
        }
        // Created under its final name in the checkpoint directory and synced last, as Flink's own
        // stream creates and syncs its file: the fsync also makes the directory entry durable that
        // the file got at its creation (ext4 with or without a journal, XFS).
        localFiles.force(file, descriptor);
        return target;
    }

    /**
     * The local file operation spill adoption is made of. Which bytes and name an {@code fsync}
     * makes durable depends on when it runs, which no test can observe on a real disk short of
     * cutting its power: a test records it instead.
     */
    @VisibleForTesting
    interface LocalFiles {
        LocalFiles REAL = (file, descriptor) -> descriptor.sync();

        /** {@code fsync} of {@code file} (the bytes and metadata) through its open descriptor. */
        void force(java.nio.file.Path file, FileDescriptor descriptor) throws IOException;
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
