package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorage;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStorage;
import org.apache.flink.runtime.state.CheckpointStorageAccess;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.storage.FileSystemCheckpointStorage;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

/**
 * One checkpoint state file ({@code sizeMb} MiB) written through Flink's SPI ({@code
 * CheckpointStreamFactory} → stream → {@code closeAndGetHandle()}) to the same loopback S3 server
 * (S3Proxy, in memory) behind the fault proxy, which caps each request's upload bandwidth to {@code
 * mbPerSecond} (10^6 bytes/s; 0: uncapped) — roughly what one connection to real S3 gets:
 *
 * <ul>
 *   <li>{@code ours}: this storage (S3 adapter, pipelined multipart);
 *   <li>{@code native}: Flink's {@code filesystem} storage over {@code flink-s3-fs-native} 2.3.0;
 *   <li>{@code s3a}: Flink's {@code filesystem} storage over {@code flink-s3-fs-hadoop} 2.3.0;
 *   <li>{@code raw}: not a storage but the fixture's ceiling: the same bytes as one multipart
 *       upload straight from memory, {@code parallelParts} parts of {@code partMb} at a time,
 *       through the SDK client our store uses (same HTTP client, signing and CRC32C), without
 *       Flink, the spill file or any bookkeeping. Time is all "close".
 * </ul>
 *
 * By default the server does not verify signatures ({@code server=nosig}, see {@link #server}):
 * that per-byte work would otherwise take the cores the clients need; every contender sends the
 * same bytes to the same server either way.
 *
 * <p>Flink's file systems are loaded as plugins from {@code target/flink-plugins/<storage>},
 * through a {@link DefaultPluginManager} and {@link FileSystem#initialize}, the way a TaskManager
 * loads them. Score: seconds per file (write + close). The time in {@code closeAndGetHandle()}
 * alone is printed as {@code CLOSE} lines at the end of each trial (median and all values).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {"-Xmx3g", "-Daws.disableEc2Metadata=true"})
@Warmup(iterations = 1)
@Measurement(iterations = 3)
public class S3UploadBenchmark {

    static final String BUCKET = "bench";
    static final int WRITE_SIZE = 64 * 1024;

    @Param({"ours", "native", "s3a", "raw"})
    public String storage;

    @Param({"64", "256"})
    public int sizeMb;

    @Param({"0", "40", "10"})
    public int mbPerSecond;

    /** Ours and raw: {@code s3.parallel-parts} (parts in flight; 16 is the default). */
    @Param({"16"})
    public int parallelParts;

    /** Ours and raw: {@code s3.part-size} in MiB. */
    @Param({"8"})
    public int partMb;

    /**
     * The server's own per-byte work, which competes with the clients for this machine's cores:
     * {@code full}: the tests' S3Proxy (stores every byte in memory, MD5 for the ETag, verifies
     * every SigV4-signed chunk); {@code nosig}: the same without verifying signatures (the clients
     * still sign and send the same bytes); {@code lean}: also keeps only lengths (no MD5, no copy),
     * which S3A cannot use: it checks each part's ETag against its own MD5 and fails.
     */
    @Param({"nosig"})
    public String server;

    private S3Server s3;
    private FaultProxy proxy;
    private S3Client direct;
    private Path spill;
    private CheckpointStreamFactory streams;
    private byte[] piece;
    private final List<Long> closeNanos = new ArrayList<>();
    private S3Client raw;
    private ExecutorService rawParts;
    private byte[] rawPart;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        s3 = new S3Server(!"lean".equals(server), "full".equals(server));
        s3.createBucket(BUCKET);
        proxy = new FaultProxy(s3.endpoint());
        proxy.bytesPerSecond = mbPerSecond * 1_000_000L;
        direct = s3.client();
        spill = Files.createTempDirectory("rcs-s3-bench");

        Configuration conf = FlinkS3.config(proxy.endpoint());
        conf.setString("s3.endpoint.region", S3Server.REGION); // flink-s3-fs-hadoop's region key
        conf.setString("s3.connection.ssl.enabled", "false");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, "s3://" + BUCKET + "/checkpoints");
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        conf.setString(S3StoreOptions.PARALLEL_PARTS.key(), String.valueOf(parallelParts));
        conf.setString(S3StoreOptions.PART_SIZE.key(), partMb + " mb");
        if ("raw".equals(storage)) {
            raw = rawClient(proxy.endpoint());
            rawParts = Executors.newFixedThreadPool(parallelParts);
            rawPart = new byte[partMb << 20];
            new Random(7).nextBytes(rawPart);
            return;
        }

        // Our storage still needs an s3:// file system for Flink's directory bookkeeping: the
        // native one.
        Path plugins =
                Paths.get("target", "flink-plugins", "ours".equals(storage) ? "native" : storage)
                        .toAbsolutePath();
        FileSystem.initialize(
                conf,
                new DefaultPluginManager(
                        new DirectoryBasedPluginFinder(plugins).findPlugins(),
                        S3UploadBenchmark.class.getClassLoader(),
                        new String[] {
                            "java.",
                            "org.apache.flink.",
                            "javax.annotation.",
                            "org.slf4j",
                            "org.apache.log4j",
                            "org.apache.logging",
                            "org.apache.commons.logging",
                            "ch.qos.logback"
                        }));

        CheckpointStorage checkpointStorage =
                "ours".equals(storage)
                        ? ResilientCheckpointStorage.fromConfig(
                                conf, S3UploadBenchmark.class.getClassLoader())
                        : FileSystemCheckpointStorage.createFromConfig(
                                conf, S3UploadBenchmark.class.getClassLoader());
        CheckpointStorageAccess access = checkpointStorage.createCheckpointStorage(new JobID());
        access.initializeBaseLocationsForCheckpoint();
        streams =
                access.resolveCheckpointStorageLocation(
                        1, access.initializeLocationForCheckpoint(1).getLocationReference());
        piece = new byte[WRITE_SIZE];
        new Random(7).nextBytes(piece);
    }

    @Benchmark
    public Object writeAndClose() throws Exception {
        if (raw != null) {
            return rawUpload();
        }
        CheckpointStateOutputStream out =
                streams.createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        long bytes = (long) sizeMb << 20;
        for (long written = 0; written < bytes; written += WRITE_SIZE) {
            out.write(piece, 0, WRITE_SIZE);
        }
        long start = System.nanoTime();
        StreamStateHandle handle = out.closeAndGetHandle();
        closeNanos.add(System.nanoTime() - start);
        if (handle == null || handle.getStateSize() != bytes) {
            throw new IllegalStateException("wrote " + bytes + " bytes, the handle says " + handle);
        }
        return handle;
    }

    /**
     * One multipart upload of {@code sizeMb} from memory, {@code parallelParts} parts at a time.
     */
    private String rawUpload() throws Exception {
        long start = System.nanoTime();
        String key = "raw/" + start;
        String uploadId =
                raw.createMultipartUpload(
                                b ->
                                        b.bucket(BUCKET)
                                                .key(key)
                                                .checksumAlgorithm(ChecksumAlgorithm.CRC32_C))
                        .uploadId();
        int parts = sizeMb / partMb;
        List<Future<CompletedPart>> sent = new ArrayList<>();
        for (int i = 1; i <= parts; i++) {
            int partNumber = i;
            sent.add(
                    rawParts.submit(
                            () -> {
                                UploadPartResponse r =
                                        raw.uploadPart(
                                                b ->
                                                        b.bucket(BUCKET)
                                                                .key(key)
                                                                .uploadId(uploadId)
                                                                .partNumber(partNumber)
                                                                .contentLength(
                                                                        (long) rawPart.length)
                                                                .checksumAlgorithm(
                                                                        ChecksumAlgorithm.CRC32_C),
                                                RequestBody.fromContentProvider(
                                                        () -> new ByteArrayInputStream(rawPart),
                                                        rawPart.length,
                                                        "application/octet-stream"));
                                return CompletedPart.builder()
                                        .partNumber(partNumber)
                                        .eTag(r.eTag())
                                        .checksumCRC32C(r.checksumCRC32C())
                                        .build();
                            }));
        }
        List<CompletedPart> done = new ArrayList<>();
        for (Future<CompletedPart> part : sent) {
            done.add(part.get());
        }
        raw.completeMultipartUpload(
                b ->
                        b.bucket(BUCKET)
                                .key(key)
                                .uploadId(uploadId)
                                .multipartUpload(m -> m.parts(done)));
        closeNanos.add(System.nanoTime() - start);
        return key;
    }

    /**
     * Every file and pending upload is removed between operations: the server holds one file at a
     * time.
     */
    @TearDown(Level.Invocation)
    public void emptyBucket() {
        for (S3Object o : direct.listObjectsV2Paginator(b -> b.bucket(BUCKET)).contents()) {
            direct.deleteObject(b -> b.bucket(BUCKET).key(o.key()));
        }
        for (MultipartUpload u : direct.listMultipartUploads(b -> b.bucket(BUCKET)).uploads()) {
            direct.abortMultipartUpload(b -> b.bucket(BUCKET).key(u.key()).uploadId(u.uploadId()));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        List<Long> sorted =
                new ArrayList<>(
                        closeNanos.size() > 1
                                ? closeNanos.subList(1, closeNanos.size())
                                : closeNanos);
        Collections.sort(sorted);
        List<Long> millis = new ArrayList<>();
        for (long n : closeNanos) {
            millis.add(TimeUnit.NANOSECONDS.toMillis(n));
        }
        System.out.printf(
                "%nCLOSE storage=%s sizeMb=%d mbPerSecond=%d parallelParts=%d partMb=%d"
                        + " median_ms=%d all_ms=%s (the first is the warmup, not in the median)%n",
                storage,
                sizeMb,
                mbPerSecond,
                parallelParts,
                partMb,
                sorted.isEmpty()
                        ? -1
                        : TimeUnit.NANOSECONDS.toMillis(sorted.get(sorted.size() / 2)),
                millis);
        direct.close();
        if (raw != null) {
            raw.close();
            rawParts.shutdownNow();
        }
        proxy.close();
        s3.close();
        try (var files = Files.walk(spill)) {
            files.sorted(Collections.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /**
     * The client {@code S3StoreProvider.client} builds (URL-connection HTTP client, its timeouts,
     * no SDK retries, path style), made here from the unrelocated SDK: in a packaged build the
     * adapter's jar carries a relocated copy of the SDK, whose types this class cannot use.
     */
    private static S3Client rawClient(URI endpoint) {
        return S3Client.builder()
                .httpClientBuilder(
                        UrlConnectionHttpClient.builder()
                                .connectionTimeout(Duration.ofSeconds(10))
                                .socketTimeout(Duration.ofSeconds(60)))
                .credentialsProvider(
                        StaticCredentialsProvider.create(
                                AwsBasicCredentials.create(
                                        S3Server.ACCESS_KEY, S3Server.SECRET_KEY)))
                .forcePathStyle(true)
                .overrideConfiguration(o -> o.retryStrategy(b -> b.maxAttempts(1)))
                .region(Region.of(S3Server.REGION))
                .endpointOverride(endpoint)
                .build();
    }
}
