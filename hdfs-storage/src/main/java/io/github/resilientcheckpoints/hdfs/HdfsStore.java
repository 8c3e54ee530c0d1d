package io.github.resilientcheckpoints.hdfs;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CleanupExecutor;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsBatchDelete;
import io.github.resilientcheckpoints.store.SupportsExclusiveCreate;
import io.github.resilientcheckpoints.store.SupportsListing;
import io.github.resilientcheckpoints.store.SupportsStreamingUpload;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.UUID;
import org.apache.flink.annotation.VisibleForTesting;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link CheckpointStore} for {@code hdfs://}: every upload writes a hidden temporary file next
 * to its target, {@code hsync}s it and renames it into place, so a reader never sees a partial
 * file. The rename never replaces what exists at the target (on HDFS: {@code Options.Rename.NONE}).
 * The store owns its Hadoop {@link FileSystem} ({@code newInstance}), never the JVM's cached one.
 *
 * <p>The design (following write, quota headroom, cleanup on interrupted threads, timeouts that are
 * no interrupts) is described in {@code docs/hdfs.md}.
 */
public final class HdfsStore
        implements CheckpointStore,
                SupportsListing,
                SupportsBatchDelete,
                SupportsStreamingUpload,
                SupportsExclusiveCreate {

    private static final Logger LOG = LoggerFactory.getLogger(HdfsStore.class);

    static final String TEMP_SUFFIX = ".inprogress";

    /** Most directories whose quota view or applied storage policy the store remembers. */
    static final int MAX_CACHED_DIRECTORIES = 256;

    private final FileSystem fs;
    private final short replication;
    private final String storagePolicy;
    private final HdfsQuotas quotas;

    /**
     * Directories whose storage policy this store has set (the policy is per directory, and Flink
     * makes a new chk-N directory per checkpoint): bounded, a forgotten one costs one more call.
     */
    private final Cache<Path, Boolean> policyApplied =
            Caffeine.newBuilder()
                    .maximumSize(MAX_CACHED_DIRECTORIES)
                    .executor(Runnable::run)
                    .build();

    /**
     * Deletes of temporary and abandoned files: they must work on interrupted (cancelled) threads
     * too.
     */
    private final CleanupExecutor cleanup =
            new CleanupExecutor(
                    "rcs-hdfs-cleanup",
                    HdfsStore.class.getClassLoader(),
                    2,
                    Duration.ofSeconds(30));

    public HdfsStore(
            FileSystem fs,
            int replication,
            String storagePolicy,
            Duration quotaCheckInterval,
            Ticker ticker) {
        this.fs = fs;
        this.replication = (short) replication;
        this.storagePolicy = storagePolicy;
        this.quotas = new HdfsQuotas(fs, quotaCheckInterval, ticker, MAX_CACHED_DIRECTORIES);
    }

    @Override
    public org.apache.flink.core.fs.Path upload(
            UploadSource source, org.apache.flink.core.fs.Path target) throws IOException {
        try {
            return writeAndCommit(source, open(target, source.length(), null));
        } catch (IOException e) {
            throw HdfsFailures.failure("upload to", target, e);
        }
    }

    /**
     * Writes {@code _metadata} (or any file of fixed name) only where nothing exists: a temporary
     * file of its own next to the target, {@code hsync}, close, then a rename that never replaces.
     * Something at the target, before or by the time of the rename, fails it with {@link
     * java.nio.file.FileAlreadyExistsException} naming the path; the temporary file is deleted on
     * every failure.
     */
    @Override
    public void createExclusive(UploadSource source, org.apache.flink.core.fs.Path target)
            throws IOException {
        try {
            Path path = toHadoop(target);
            if (fs.exists(path)) {
                // Nothing to write for nothing; the rename would refuse anyway.
                throw HdfsFailures.alreadyExists(target, null);
            }
            String unique = "." + path.getName() + "." + UUID.randomUUID() + TEMP_SUFFIX;
            writeAndCommit(source, open(target, source.length(), unique));
        } catch (IOException e) {
            throw HdfsFailures.failure("create", target, e);
        }
    }

    private static org.apache.flink.core.fs.Path writeAndCommit(
            UploadSource source, TempFileWrite write) throws IOException {
        boolean committed = false;
        try {
            copy(source, write.out, write.temp);
            org.apache.flink.core.fs.Path written = write.commitWrite();
            committed = true;
            return written;
        } finally {
            if (!committed) {
                write.abort();
            }
        }
    }

    @Override
    public StreamingUpload startStreamingUpload(org.apache.flink.core.fs.Path target)
            throws IOException {
        try {
            return open(target, 0, null);
        } catch (IOException e) {
            throw HdfsFailures.failure("start a following write to", target, e);
        }
    }

    /**
     * Checks the quota for {@code bytes}, then creates the temporary file next to {@code target}:
     * {@code tempName}, or by default the target's name, hidden, with {@link #TEMP_SUFFIX}.
     */
    private TempFileWrite open(org.apache.flink.core.fs.Path target, long bytes, String tempName)
            throws IOException {
        Path path = toHadoop(target);
        Path parent = path.getParent();
        long replicas = replication > 0 ? replication : fs.getDefaultReplication(path);
        HdfsQuotas.View quota = quotas.check(parent, bytes * replicas);
        Path temp =
                new Path(parent, tempName != null ? tempName : "." + path.getName() + TEMP_SUFFIX);
        FSDataOutputStream out =
                replication > 0
                        ? fs.create(
                                temp, false, 64 * 1024, replication, fs.getDefaultBlockSize(temp))
                        : fs.create(temp, false);
        TempFileWrite write = new TempFileWrite(target, path, temp, out, quota, replicas);
        try {
            applyStoragePolicy(parent);
        } catch (RuntimeException | Error e) {
            write.abort();
            throw e;
        }
        return write;
    }

    /**
     * One write to a hidden temporary file, committed by {@code hsync}, close and rename: the
     * whole-file upload and the following write both go through it.
     */
    private final class TempFileWrite implements StreamingUpload {
        final org.apache.flink.core.fs.Path target;
        final Path path;
        final Path temp;
        final FSDataOutputStream out;
        private final HdfsQuotas.View quota;
        private final long replicas;
        private long written;
        private volatile boolean committed;

        TempFileWrite(
                org.apache.flink.core.fs.Path target,
                Path path,
                Path temp,
                FSDataOutputStream out,
                HdfsQuotas.View quota,
                long replicas) {
            this.target = target;
            this.path = path;
            this.temp = temp;
            this.out = out;
            this.quota = quota;
            this.replicas = replicas;
        }

        @Override
        public void write(byte[] bytes, int offset, int length) throws IOException {
            try {
                out.write(bytes, offset, length);
            } catch (IOException e) {
                throw HdfsFailures.failure("write to", target, e);
            }
            written += length;
        }

        @Override
        public org.apache.flink.core.fs.Path commit() throws IOException {
            try {
                return commitWrite();
            } catch (IOException e) {
                throw HdfsFailures.failure("commit", target, e);
            }
        }

        org.apache.flink.core.fs.Path commitWrite() throws IOException {
            // hsync: the bytes are durable on every DataNode of the pipeline, not just flushed.
            out.hsync();
            out.close();
            renameNeverReplacing(temp, path, target);
            committed = true;
            quota.charge(written * replicas);
            return target;
        }

        @Override
        public void abort() {
            try {
                out.close();
            } catch (IOException | RuntimeException e) {
                LOG.debug("Closing the abandoned write to {} failed (it is deleted next)", temp, e);
            }
            deleteQuietly(temp);
            if (committed) {
                // Committed after it was given up: the file belongs to nobody.
                deleteQuietly(path);
            }
        }
    }

    /**
     * Renames {@code temp} to {@code path} unless anything exists there. On HDFS one NameNode call
     * that refuses atomically; on any other Hadoop file system (never chosen for {@code hdfs://}
     * unless configured so) a check, then the plain rename, which refuses an existing file but
     * would move into an existing directory: that is checked before and reported as existing.
     */
    private void renameNeverReplacing(Path temp, Path path, org.apache.flink.core.fs.Path target)
            throws IOException {
        if (fs instanceof DistributedFileSystem) {
            try {
                ((DistributedFileSystem) fs).rename(temp, path, Options.Rename.NONE);
            } catch (org.apache.hadoop.fs.FileAlreadyExistsException e) {
                throw HdfsFailures.alreadyExists(target, e);
            }
            return;
        }
        if (fs.exists(path)) {
            throw HdfsFailures.alreadyExists(target, null);
        }
        if (!fs.rename(temp, path)) {
            if (fs.exists(path)) {
                throw HdfsFailures.alreadyExists(target, null);
            }
            throw new IOException(
                    "HDFS refused to rename '"
                            + temp
                            + "' to '"
                            + path
                            + "' (its directory vanished?)");
        }
    }

    private static void copy(UploadSource source, FSDataOutputStream out, Path temp)
            throws IOException {
        byte[] buffer = new byte[64 * 1024];
        long remaining = source.length();
        try (InputStream in = source.open()) {
            while (remaining > 0) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new InterruptedIOException("upload to " + temp + " was interrupted");
                }
                int n = in.read(buffer, 0, (int) Math.min(buffer.length, remaining));
                if (n < 0) {
                    throw new IOException(
                            "source ended " + remaining + " bytes early while writing " + temp);
                }
                out.write(buffer, 0, n);
                remaining -= n;
            }
        }
    }

    private void applyStoragePolicy(Path directory) {
        if (storagePolicy == null
                || storagePolicy.isBlank()
                || policyApplied.asMap().putIfAbsent(directory, Boolean.TRUE) != null) {
            return;
        }
        try {
            fs.setStoragePolicy(directory, storagePolicy);
        } catch (IOException | RuntimeException e) {
            LOG.warn(
                    "Could not set storage policy {} on {}: {}",
                    storagePolicy,
                    directory,
                    HdfsFailures.describe(e));
        }
    }

    @VisibleForTesting
    long quotaCacheSize() {
        return quotas.cacheSize();
    }

    @VisibleForTesting
    long policyCacheSize() {
        policyApplied.cleanUp();
        return policyApplied.estimatedSize();
    }

    // ------------------------------------------------------------------ delete, list

    @Override
    public void delete(org.apache.flink.core.fs.Path path) throws IOException {
        // Abandoned attempts are deleted from their own, interrupted thread.
        Path p = toHadoop(path);
        try {
            cleanup.call("delete of " + p, () -> fs.delete(p, false));
        } catch (IOException e) {
            throw HdfsFailures.failure("delete", path, e);
        }
    }

    @Override
    public List<org.apache.flink.core.fs.Path> deleteAll(
            Collection<org.apache.flink.core.fs.Path> paths) {
        // HDFS has no multi-file delete RPC.
        return SupportsBatchDelete.deleteEach(this, paths);
    }

    @Override
    public List<StoredFile> listFiles(org.apache.flink.core.fs.Path directory) throws IOException {
        try {
            return list(directory);
        } catch (IOException e) {
            throw HdfsFailures.failure("list", directory, e);
        }
    }

    private List<StoredFile> list(org.apache.flink.core.fs.Path directory) throws IOException {
        List<StoredFile> files = new ArrayList<>();
        Path dir = toHadoop(directory);
        if (!fs.exists(dir)) {
            return files;
        }
        RemoteIterator<LocatedFileStatus> it = fs.listFiles(dir, true);
        while (it.hasNext()) {
            LocatedFileStatus s = it.next();
            files.add(
                    new StoredFile(
                            new org.apache.flink.core.fs.Path(s.getPath().toUri()),
                            s.getLen(),
                            s.getModificationTime()));
        }
        return files;
    }

    @Override
    public FailureClass classify(Throwable failure) {
        return HdfsFailureClassifier.classify(failure);
    }

    @Override
    public String name() {
        return "hdfs";
    }

    @Override
    public void close() throws IOException {
        cleanup.close();
        fs.close();
    }

    private void deleteQuietly(Path path) {
        try {
            cleanup.call("delete of " + path, () -> fs.delete(path, false));
        } catch (IOException | RuntimeException e) {
            LOG.debug("Could not delete temporary file {}", path, e);
        }
    }

    private static Path toHadoop(org.apache.flink.core.fs.Path path) {
        return new Path(path.toUri());
    }
}
