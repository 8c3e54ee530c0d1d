package io.github.resilientcheckpoints.jmh;

import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.hdfs.HdfsStore;
import io.github.resilientcheckpoints.hdfs.HdfsStoreProvider;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.storage.ResilientStateOutputStream;
import io.github.resilientcheckpoints.storage.WorkerServices;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.fs.hdfs.HadoopFileSystem;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStreamFactory;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * One place a benchmark writes checkpoint state to, with both streams set up as in production: ours
 * ({@link ResilientStateOutputStream}: spill file, following write, commit) and Flink's ({@link
 * FsCheckpointStreamFactory.FsCheckpointStateOutputStream} straight into the target file system,
 * {@code sync} at the end). Both use a 20 KiB write buffer. Owns and closes everything it starts
 * (upload threads, the MiniDFSCluster, temporary directories).
 */
final class Targets implements AutoCloseable {

    static final int BUFFER = 20 * 1024;

    /** The state file's directory, in Flink's terms. */
    final Path directory;

    private final FileSystem flinkFs;
    private final java.nio.file.Path root;

    /** Where ours spills: under {@link #root}, or on another file system. */
    private final java.nio.file.Path spillRoot;

    private final ExecutorService executor;
    private final WorkerServices services;
    private final MiniDFSCluster cluster;
    private final org.apache.hadoop.fs.FileSystem hadoop;
    private final CheckpointStore store;

    private Targets(
            java.nio.file.Path root,
            java.nio.file.Path spillRoot,
            Path directory,
            FileSystem flinkFs,
            CheckpointStore store,
            MiniDFSCluster cluster,
            org.apache.hadoop.fs.FileSystem hadoop)
            throws IOException {
        this.root = root;
        this.spillRoot = spillRoot;
        this.directory = directory;
        this.flinkFs = flinkFs;
        this.store = store;
        this.cluster = cluster;
        this.hadoop = hadoop;
        AtomicInteger n = new AtomicInteger();
        this.executor =
                new ThreadPoolExecutor(
                        4,
                        4,
                        60,
                        TimeUnit.SECONDS,
                        new LinkedBlockingQueue<>(),
                        r -> {
                            Thread t = new Thread(r, "rcs-jmh-upload-" + n.incrementAndGet());
                            t.setDaemon(true);
                            return t;
                        });
        StorageMetrics metrics = new StorageMetrics();
        SpillSpace space =
                new SpillSpace(
                        List.of(spillRoot.resolve("spill")),
                        new SpillLimits(
                                0,
                                0.0,
                                Long.MAX_VALUE,
                                4 << 20,
                                Duration.ofSeconds(1),
                                SpillFallback.MEMORY,
                                64 << 20),
                        FreeSpaceProbe.FILE_STORE,
                        Ticker.SYSTEM);
        RetryingUploader uploader =
                new RetryingUploader(
                        store,
                        new RetryPolicy(
                                3,
                                Duration.ofMillis(10),
                                Duration.ofMillis(100),
                                Duration.ofMinutes(1)),
                        executor,
                        Ticker.SYSTEM,
                        RetryingUploader.threadLocalRandom(),
                        metrics,
                        Redactor.NONE);
        this.services =
                new WorkerServices(
                        uploader, space, metrics, Ticker.SYSTEM, Duration.ofMinutes(10).toNanos());
    }

    /**
     * The local file system: spill directory and target directory on the same disk (ours then
     * adopts the spill file: written in place, then synced).
     */
    static Targets local() throws IOException {
        java.nio.file.Path root = Files.createTempDirectory("rcs-jmh");
        return local(root, root);
    }

    /**
     * The local disk as the target, the spill directory on another file system ({@code /dev/shm}, a
     * tmpfs): ours then follows the spill file with a second write, as for any target it cannot
     * link into.
     */
    static Targets localSpillingElsewhere() throws IOException {
        java.nio.file.Path root = Files.createTempDirectory("rcs-jmh");
        java.nio.file.Path shm = Paths.get("/dev/shm");
        if (!Files.isDirectory(shm)) {
            throw new IOException("needs /dev/shm (a tmpfs) as a second file system");
        }
        return local(root, Files.createTempDirectory(shm, "rcs-jmh-spill"));
    }

    private static Targets local(java.nio.file.Path root, java.nio.file.Path spillRoot)
            throws IOException {
        java.nio.file.Path remote = Files.createDirectories(root.resolve("remote"));
        return new Targets(
                root,
                spillRoot,
                new Path(remote.toUri()),
                FileSystem.getLocalFileSystem(),
                new FlinkFileSystemStore(),
                null,
                null);
    }

    /**
     * A real HDFS in this JVM (NameNode + one DataNode on loopback, replication 1), reached by our
     * HDFS store and by Flink's {@link HadoopFileSystem}; each with its own client.
     */
    static Targets hdfs() throws IOException {
        java.nio.file.Path root = Files.createTempDirectory("rcs-jmh-hdfs");
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, root.resolve("dfs").toString());
        conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
        conf.set("dfs.namenode.http-address", "127.0.0.1:0");
        conf.set("dfs.datanode.address", "127.0.0.1:0");
        conf.set("dfs.datanode.http.address", "127.0.0.1:0");
        conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
        conf.setInt("dfs.replication", 1);
        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
        cluster.waitActive();
        Configuration clientConf = cluster.getConfiguration(0);
        org.apache.hadoop.fs.FileSystem hadoop =
                org.apache.hadoop.fs.FileSystem.newInstance(cluster.getURI(), clientConf);
        hadoop.mkdirs(new org.apache.hadoop.fs.Path("/bench"));
        // Our store's client as its provider builds it (its own defaults on the cluster's config).
        Configuration ourConf = new Configuration(clientConf);
        HdfsStoreProvider.applyClientDefaults(ourConf);
        HdfsStore store =
                new HdfsStore(
                        org.apache.hadoop.fs.FileSystem.newInstance(cluster.getURI(), ourConf),
                        1,
                        null,
                        Duration.ofSeconds(10),
                        Ticker.SYSTEM);
        FileSystem flink =
                new HadoopFileSystem(
                        org.apache.hadoop.fs.FileSystem.newInstance(cluster.getURI(), clientConf));
        return new Targets(
                root, root, new Path(cluster.getURI() + "/bench"), flink, store, cluster, hadoop);
    }

    ResilientStateOutputStream ours() {
        return new ResilientStateOutputStream(
                directory,
                true,
                BUFFER,
                BUFFER,
                services,
                System.nanoTime() + TimeUnit.MINUTES.toNanos(5));
    }

    CheckpointStateOutputStream flink() {
        return new FsCheckpointStreamFactory.FsCheckpointStateOutputStream(
                directory, flinkFs, BUFFER, BUFFER, true);
    }

    /**
     * Writes {@code bytes} in {@code piece}s, closes for a handle, deletes it; returns the state
     * size.
     */
    long writeCloseAndDiscard(CheckpointStateOutputStream out, byte[] piece, long bytes)
            throws Exception {
        return discard(writeAll(out, piece, bytes).closeAndGetHandle());
    }

    static CheckpointStateOutputStream writeAll(
            CheckpointStateOutputStream out, byte[] piece, long bytes) throws IOException {
        for (long written = 0; written < bytes; written += piece.length) {
            out.write(piece);
        }
        return out;
    }

    /** Deletes the handle's file through the target's own client; returns the state size. */
    long discard(StreamStateHandle handle) throws Exception {
        long size = handle.getStateSize();
        if (hadoop != null && handle instanceof FileStateHandle) {
            hadoop.delete(
                    new org.apache.hadoop.fs.Path(((FileStateHandle) handle).getFilePath().toUri()),
                    false);
        } else {
            handle.discardState();
        }
        return size;
    }

    @Override
    public void close() throws Exception {
        executor.shutdownNow();
        executor.awaitTermination(10, TimeUnit.SECONDS);
        store.close();
        if (hadoop != null) {
            ((HadoopFileSystem) flinkFs).getHadoopFileSystem().close();
            hadoop.close();
        }
        if (cluster != null) {
            cluster.shutdown(true);
        }
        deleteTree(root);
        if (!spillRoot.equals(root)) {
            deleteTree(spillRoot);
        }
    }

    private static void deleteTree(java.nio.file.Path top) throws IOException {
        try (Stream<java.nio.file.Path> files = Files.walk(top)) {
            for (java.nio.file.Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
