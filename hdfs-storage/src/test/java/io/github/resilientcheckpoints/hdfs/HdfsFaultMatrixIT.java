package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.SupportsExclusiveCreate;
import io.github.resilientcheckpoints.store.SupportsListing;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.PrivilegedExceptionAction;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.Path;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.SafeModeAction;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.protocol.HdfsConstants;
import org.apache.hadoop.security.UserGroupInformation;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The failure shapes a real HDFS produces, for each operation of the store: state upload, {@code
 * _metadata} (create exclusive), delete and listing. Each row asserts the class the store gives the
 * failure and what its caller sees: the operation's path in the message, never an interrupt-typed
 * exception for what is no interrupt, and no temporary file left where the NameNode can still
 * delete it. One 2-DataNode MiniDFSCluster for the class; the client retries little, so a dead
 * NameNode fails in about a second. The NameNode is stopped by the last test.
 *
 * <p>The rows are written to {@code target/hdfs-fault-matrix.md}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HdfsFaultMatrixIT {

    static final int MB = 1 << 20;

    enum Op {
        UPLOAD("state upload"),
        CREATE_EXCLUSIVE("_metadata (createExclusive)"),
        DELETE("delete"),
        LIST("listing");

        final String label;

        Op(String label) {
            this.label = label;
        }
    }

    @TempDir static java.nio.file.Path base;

    private static MiniDfs dfs;
    private static HdfsStore store;
    private static final List<String> rows = new ArrayList<>();

    /** The store's client: few connection retries, so that a dead NameNode fails fast. */
    static Configuration quickClient(Configuration from) {
        Configuration conf = new Configuration(from);
        conf.setInt("ipc.client.connect.max.retries", 1);
        conf.setInt("ipc.client.connect.retry.interval", 100);
        conf.setInt("ipc.client.connect.max.retries.on.timeouts", 1);
        conf.setInt("ipc.client.rpc-timeout.ms", 10_000);
        conf.setInt("dfs.client.socket-timeout", 10_000);
        conf.setBoolean("dfs.client.retry.policy.enabled", false);
        return conf;
    }

    @BeforeAll
    static void startHdfs() throws IOException {
        dfs = new MiniDfs(base, 2);
        // Replication 2 on 2 DataNodes: both are in every write pipeline. Quota views are kept for
        // an hour, so that what the store believes about a quota is fixed by the test.
        store = newStore(FileSystem.newInstance(dfs.uri(), quickClient(dfs.conf())));
    }

    static HdfsStore newStore(FileSystem fs) {
        return new HdfsStore(fs, 2, null, Duration.ofHours(1), Ticker.SYSTEM);
    }

    @AfterAll
    static void stopHdfs() throws IOException {
        try {
            if (store != null) {
                store.close();
            }
        } finally {
            if (dfs != null) {
                dfs.close();
            }
        }
        StringBuilder md = new StringBuilder("| shape | operation | outcome |\n|---|---|---|\n");
        rows.forEach(r -> md.append(r).append('\n'));
        Files.createDirectories(java.nio.file.Path.of("target"));
        Files.writeString(
                java.nio.file.Path.of("target", "hdfs-fault-matrix.md"),
                md,
                StandardCharsets.UTF_8);
    }

    // ------------------------------------------------------------------ helpers

    private static Path dir(String name) {
        return new Path(dfs.uri() + "/matrix/" + name + "-" + UUID.randomUUID());
    }

    private static org.apache.hadoop.fs.Path hadoop(Path p) {
        return new org.apache.hadoop.fs.Path(p.toUri());
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    private static void put(Path p, byte[] data) throws IOException {
        try (FSDataOutputStream out = dfs.fs().create(hadoop(p), false)) {
            out.write(data);
        }
    }

    /** The operation's target: a file in {@code dir} (the directory itself for a listing). */
    private static Path target(Op op, Path dir) {
        switch (op) {
            case CREATE_EXCLUSIVE:
                return new Path(dir, "_metadata");
            case LIST:
                return dir;
            default:
                return new Path(dir, "state-" + UUID.randomUUID());
        }
    }

    private static Throwable run(CheckpointStore s, Op op, Path target, UploadSource data) {
        return catchThrowable(
                () -> {
                    switch (op) {
                        case UPLOAD:
                            s.upload(data, target);
                            break;
                        case CREATE_EXCLUSIVE:
                            s.capability(SupportsExclusiveCreate.class)
                                    .orElseThrow()
                                    .createExclusive(data, target);
                            break;
                        case DELETE:
                            s.delete(target);
                            break;
                        case LIST:
                            s.capability(SupportsListing.class).orElseThrow().listFiles(target);
                            break;
                        default:
                            throw new AssertionError(op);
                    }
                });
    }

    /** Asserts what the caller of {@code op} sees for a failure of this shape; records the row. */
    private static void assertFailure(
            String shape,
            CheckpointStore s,
            Op op,
            Path target,
            Throwable thrown,
            FailureClass expected,
            String... causeNames) {
        assertThat(thrown).as("%s / %s fails", shape, op.label).isNotNull();
        assertThat(thrown)
                .as("%s / %s: an I/O failure", shape, op.label)
                .isInstanceOf(IOException.class)
                .as("%s / %s: no interrupt-typed failure for what is no interrupt", shape, op.label)
                .isNotInstanceOf(InterruptedIOException.class);
        assertThat(s.classify(thrown)).as("%s / %s: class", shape, op.label).isEqualTo(expected);
        assertThat(thrown.getMessage())
                .as("%s / %s: the message names the path", shape, op.label)
                .contains(target.getPath());
        String described = HdfsFailures.describe(thrown);
        String causeName =
                List.of(causeNames).stream()
                        .filter(described::contains)
                        .findFirst()
                        .orElseThrow(
                                () ->
                                        new AssertionError(
                                                shape
                                                        + " / "
                                                        + op.label
                                                        + ": expected a cause among "
                                                        + List.of(causeNames)
                                                        + " in "
                                                        + described));
        rows.add(
                "| "
                        + shape
                        + " | "
                        + op.label
                        + " | "
                        + expected
                        + ": `"
                        + thrown.getClass().getSimpleName()
                        + "` ← `"
                        + causeName
                        + "`; e.g. "
                        + excerpt(thrown.getMessage())
                        + " |");
    }

    private static void assertWorks(String shape, Op op, Throwable thrown, String note) {
        assertThat(thrown).as("%s / %s works", shape, op.label).isNull();
        rows.add("| " + shape + " | " + op.label + " | works" + note + " |");
    }

    private static String excerpt(String message) {
        String m = message.replace('|', '/').replace('\n', ' ');
        return "\"" + (m.length() > 160 ? m.substring(0, 160) + "…" : m) + "\"";
    }

    private static List<String> names(Path dir) throws IOException {
        List<String> names = new ArrayList<>();
        if (dfs.fs().exists(hadoop(dir))) {
            for (FileStatus st : dfs.fs().listStatus(hadoop(dir))) {
                names.add(st.getPath().getName());
            }
        }
        return names;
    }

    private static void assertNoTemporaryFile(Path dir) throws IOException {
        assertThat(names(dir)).noneMatch(n -> n.endsWith(HdfsStore.TEMP_SUFFIX));
    }

    // ------------------------------------------------------------------ shapes

    @Test
    @Order(1)
    void permissionDenied() throws Exception {
        String shape = "permission denied (user without write access)";
        Path open = dir("perm");
        Path closed = dir("private");
        DistributedFileSystem admin = dfs.fs();
        admin.mkdirs(hadoop(open), new FsPermission((short) 0755));
        admin.mkdirs(hadoop(closed), new FsPermission((short) 0700));
        admin.setPermission(hadoop(open), new FsPermission((short) 0755));
        admin.setPermission(hadoop(closed), new FsPermission((short) 0700));
        Path existing = new Path(open, "existing");
        put(existing, new byte[] {1});

        FileSystem aliceFs =
                UserGroupInformation.createRemoteUser("alice")
                        .doAs(
                                (PrivilegedExceptionAction<FileSystem>)
                                        () ->
                                                FileSystem.newInstance(
                                                        dfs.uri(), quickClient(dfs.conf())));
        try (HdfsStore alice = newStore(aliceFs)) {
            for (Op op : Op.values()) {
                Path target =
                        op == Op.DELETE ? existing : target(op, op == Op.LIST ? closed : open);
                Throwable thrown = run(alice, op, target, new ByteSource(bytes(1000)));
                assertFailure(
                        shape,
                        alice,
                        op,
                        target,
                        thrown,
                        FailureClass.PERMANENT,
                        "AccessControlException");
            }
        }
        assertThat(names(open)).containsExactly("existing");
    }

    @Test
    @Order(2)
    void spaceQuotaExceededAtTheNameNode() throws Exception {
        // The store's own check passes (100 kB x 2 replicas under 512 kB), but the NameNode charges
        // a whole block (1 MiB x 2) when it allocates one: DSQuotaExceededException.
        String shape = "space quota exceeded (DSQuotaExceededException)";
        Path q = dir("dsquota");
        dfs.fs().mkdirs(hadoop(q));
        dfs.fs().setQuota(hadoop(q), HdfsConstants.QUOTA_DONT_SET, 512 * 1024);
        for (Op op : List.of(Op.UPLOAD, Op.CREATE_EXCLUSIVE)) {
            Path target = target(op, q);
            Throwable thrown = run(store, op, target, new ByteSource(bytes(100_000)));
            assertFailure(
                    shape,
                    store,
                    op,
                    target,
                    thrown,
                    FailureClass.PERMANENT,
                    "DSQuotaExceededException");
            assertNoTemporaryFile(q);
            assertThat(names(q)).isEmpty();
        }
        for (Op op : List.of(Op.DELETE, Op.LIST)) {
            assertWorks(shape, op, run(store, op, target(op, q), null), " (no space needed)");
        }
    }

    @Test
    @Order(3)
    void namespaceQuotaExceededAtTheNameNode() throws Exception {
        // The store read the quota when one name was used; others fill it since (another writer).
        String shape = "namespace quota exceeded (NSQuotaExceededException)";
        Path q = dir("nsquota");
        dfs.fs().mkdirs(hadoop(q));
        dfs.fs().setQuota(hadoop(q), 4, HdfsConstants.QUOTA_DONT_SET);
        store.upload(new ByteSource(bytes(10)), new Path(q, "first"));
        put(new Path(q, "other-1"), new byte[] {1});
        put(new Path(q, "other-2"), new byte[] {2});
        for (Op op : List.of(Op.UPLOAD, Op.CREATE_EXCLUSIVE)) {
            Path target = target(op, q);
            Throwable thrown = run(store, op, target, new ByteSource(bytes(10)));
            assertFailure(
                    shape,
                    store,
                    op,
                    target,
                    thrown,
                    FailureClass.PERMANENT,
                    "NSQuotaExceededException");
        }
        assertThat(names(q)).containsExactlyInAnyOrder("first", "other-1", "other-2");
        assertWorks(shape, Op.LIST, run(store, Op.LIST, q, null), "");
        assertWorks(shape, Op.DELETE, run(store, Op.DELETE, new Path(q, "first"), null), "");
    }

    @Test
    @Order(4)
    void safeMode() throws Exception {
        String shape = "NameNode in safe mode (SafeModeException)";
        Path d = dir("safemode");
        Path existing = new Path(d, "existing");
        put(existing, new byte[] {1});
        DistributedFileSystem admin = dfs.fs();
        admin.setSafeMode(SafeModeAction.ENTER);
        try {
            for (Op op : List.of(Op.UPLOAD, Op.CREATE_EXCLUSIVE, Op.DELETE)) {
                Path target = op == Op.DELETE ? existing : target(op, d);
                Throwable thrown = run(store, op, target, new ByteSource(bytes(1000)));
                assertFailure(shape, store, op, target, thrown, FailureClass.TRANSIENT, "SafeMode");
            }
            assertWorks(shape, Op.LIST, run(store, Op.LIST, d, null), " (reads are served)");
        } finally {
            admin.setSafeMode(SafeModeAction.LEAVE);
        }
        assertThat(names(d)).containsExactly("existing");
    }

    @Test
    @Order(5)
    void someDataNodesStoppedDuringAWrite() throws Exception {
        String shape = "one of two DataNodes stopped during the write";
        for (Op op : List.of(Op.UPLOAD, Op.CREATE_EXCLUSIVE)) {
            Path d = dir("dn-some");
            Path target = target(op, d);
            byte[] data = bytes(3 * MB);
            GatedSource source = new GatedSource(data, 3 * MB / 2);
            MiniDFSCluster.DataNodeProperties stopped = null;
            ExecutorService executor = Executors.newSingleThreadExecutor();
            try {
                Future<Throwable> write = executor.submit(() -> run(store, op, target, source));
                assertThat(source.reachedGate.await(60, TimeUnit.SECONDS)).isTrue();
                stopped = dfs.cluster.stopDataNode(1);
                source.release();
                Throwable thrown = write.get(120, TimeUnit.SECONDS);
                assertWorks(shape, op, thrown, " (the pipeline goes on with the DataNode left)");
                try (InputStream in = dfs.fs().open(hadoop(target))) {
                    assertThat(in.readAllBytes()).isEqualTo(data);
                }
                assertNoTemporaryFile(d);
            } finally {
                source.release();
                executor.shutdownNow();
                assertThat(executor.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
                if (stopped != null) {
                    dfs.cluster.restartDataNode(stopped, true);
                    dfs.cluster.waitActive();
                }
            }
        }
    }

    @Test
    @Order(6)
    void allDataNodesStoppedDuringAWrite() throws Exception {
        String shape = "all DataNodes stopped during the write";
        for (Op op : List.of(Op.UPLOAD, Op.CREATE_EXCLUSIVE)) {
            Path d = dir("dn-all");
            Path target = target(op, d);
            GatedSource source = new GatedSource(bytes(3 * MB), 3 * MB / 2);
            List<MiniDFSCluster.DataNodeProperties> stopped = new ArrayList<>();
            ExecutorService executor = Executors.newSingleThreadExecutor();
            try {
                Future<Throwable> write = executor.submit(() -> run(store, op, target, source));
                assertThat(source.reachedGate.await(60, TimeUnit.SECONDS)).isTrue();
                stopped.add(dfs.cluster.stopDataNode(1));
                stopped.add(dfs.cluster.stopDataNode(0));
                source.release();
                Throwable thrown = write.get(120, TimeUnit.SECONDS);
                assertFailure(
                        shape, store, op, target, thrown, FailureClass.TRANSIENT, "IOException");
                assertThat(names(d)).as("neither target nor temporary file").isEmpty();
                if (op == Op.UPLOAD) {
                    for (Op other : List.of(Op.DELETE, Op.LIST)) {
                        assertWorks(
                                shape,
                                other,
                                run(store, other, target(other, d), null),
                                " (NameNode only)");
                    }
                }
            } finally {
                source.release();
                executor.shutdownNow();
                assertThat(executor.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
                for (MiniDFSCluster.DataNodeProperties dn : stopped) {
                    dfs.cluster.restartDataNode(dn, true);
                }
                dfs.cluster.waitActive();
            }
        }
    }

    @Test
    @Order(7)
    void nameNodeRpcTimeout() throws Exception {
        String shape = "NameNode RPC timeout (accepts, never answers)";
        try (SilentNameNode silent = new SilentNameNode();
                HdfsStore s =
                        newStore(
                                FileSystem.newInstance(
                                        silent.uri(), HdfsTimeoutTest.impatientClient()))) {
            Path d = new Path(silent.uri() + "/matrix/timeout/chk-1");
            for (Op op : Op.values()) {
                Path target = target(op, d);
                Throwable thrown = run(s, op, target, new ByteSource(bytes(1000)));
                assertFailure(
                        shape,
                        s,
                        op,
                        target,
                        thrown,
                        FailureClass.TRANSIENT,
                        "SocketTimeoutException");
            }
        }
    }

    @Test
    @Order(8)
    void unresolvableHost() throws Exception {
        String shape = "unresolvable NameNode host (hdfs://nonexistent.invalid:8020)";
        URI root = URI.create("hdfs://nonexistent.invalid:8020/ckpt");
        org.apache.flink.configuration.Configuration config =
                new org.apache.flink.configuration.Configuration();
        config.setString("flink.hadoop.ipc.client.connect.max.retries", "0");
        Throwable thrown = catchThrowable(() -> new HdfsStoreProvider().create(root, config));
        assertThat(thrown)
                .as("creating the store fails with an I/O failure, not an unchecked one")
                .isInstanceOf(IOException.class)
                .hasMessageContaining(root.toString())
                .hasMessageContaining("nonexistent.invalid");
        assertThat(HdfsFailureClassifier.classify(thrown)).isEqualTo(FailureClass.TRANSIENT);
        rows.add(
                "| "
                        + shape
                        + " | creating the store (every operation) | "
                        + HdfsFailureClassifier.classify(thrown)
                        + ": `"
                        + thrown.getClass().getSimpleName()
                        + "` ← `UnknownHostException`; e.g. "
                        + excerpt(thrown.getMessage())
                        + " |");
    }

    /**
     * A call on the connection the NameNode dropped as it stopped sees {@code EOFException}; every
     * later one, connection refused. Which of them comes first depends on whether the client still
     * held an idle connection, so either is accepted.
     */
    @Test
    @Order(99)
    void nameNodeDown() throws Exception {
        String shape = "NameNode down (connection refused / dropped)";
        Path d = dir("nn-down");
        Path existing = new Path(d, "existing");
        put(existing, new byte[] {1});
        dfs.cluster.shutdownNameNode(0);
        for (Op op : Op.values()) {
            Path target = op == Op.DELETE ? existing : target(op, d);
            Throwable thrown = run(store, op, target, new ByteSource(bytes(1000)));
            assertFailure(
                    shape,
                    store,
                    op,
                    target,
                    thrown,
                    FailureClass.TRANSIENT,
                    "ConnectException",
                    "EOFException");
        }
    }
}
