package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.cleanup.CheckpointIndex;
import io.github.resilientcheckpoints.cleanup.OfflineCleanup;
import io.github.resilientcheckpoints.cleanup.SweepPlan;
import io.github.resilientcheckpoints.cleanup.SweepPlanner;
import io.github.resilientcheckpoints.cleanup.Sweeper;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/** Cleanup on the S3 store: orphans, incomplete uploads, and batched deletes measured. */
class S3CleanupTest {

    static final String BUCKET = "cleanup";
    static final String JOB = "ckpt/0123456789abcdef0123456789abcdef";

    private static S3Server server;
    private static S3Store store;
    private static S3Client sdk;

    @BeforeAll
    static void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        Configuration conf = FlinkS3.config(server.endpoint());
        store = (S3Store) new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
        sdk = server.client();
    }

    @AfterAll
    static void stop() throws Exception {
        sdk.close();
        store.close();
        server.close();
    }

    @Test
    void orphansAndIncompleteUploadsUnderAJobAreSweptAndNothingElse() throws Exception {
        put(JOB + "/chk-3/abandoned-state");
        put(JOB + "/shared/unreferenced");
        put(JOB + "/savepoint-aa11/_metadata");
        put("elsewhere/shared/not-ours");
        String uploadId =
                sdk.createMultipartUpload(b -> b.bucket(BUCKET).key(JOB + "/shared/half-written"))
                        .uploadId();
        Thread.sleep(1100); // S3 times have second granularity; the grace below is one second

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        OfflineCleanup.Report report =
                OfflineCleanup.run(
                        OfflineCleanup.Request.dryRun(
                                        "s3://" + BUCKET + "/" + JOB, Duration.ofSeconds(1))
                                .executing(true),
                        store,
                        System.currentTimeMillis(),
                        new PrintStream(out, true, StandardCharsets.UTF_8));
        String printed = out.toString(StandardCharsets.UTF_8);
        assertThat(report.complete()).as(printed).isTrue();
        assertThat(printed)
                .contains("delete s3://" + BUCKET + "/" + JOB + "/chk-3/abandoned-state")
                .contains("delete s3://" + BUCKET + "/" + JOB + "/shared/unreferenced")
                .contains("abort incomplete upload " + uploadId)
                .contains("Deleted 2 files");
        assertThat(keys(JOB)).containsExactly(JOB + "/savepoint-aa11/_metadata");
        assertThat(keys("elsewhere")).containsExactly("elsewhere/shared/not-ours");
        assertThat(store.listPendingUploads(new Path("s3://" + BUCKET + "/" + JOB))).isEmpty();
    }

    @Test
    void tenThousandOrphansBatchedVersusOneRequestPerFile() throws Exception {
        int n = 10_000;
        String batchedJob = "bench/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        String singleJob = "bench/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        putMany(batchedJob + "/shared/f", n);
        List<Path> single = putMany(singleJob + "/shared/f", n);
        Thread.sleep(1100);

        SweepPlanner planner = new SweepPlanner(store);
        SweepPlanner.Rules rules =
                SweepPlanner.Rules.offline(1000, System.currentTimeMillis(), Integer.MAX_VALUE);
        CheckpointIndex index =
                planner.index(
                        List.of(new Path("s3://" + BUCKET + "/bench")),
                        job -> Integer.MAX_VALUE,
                        rules,
                        CheckpointIndex.MetadataReader.uncached(getClass().getClassLoader()));
        SweepPlan plan =
                planner.planJob(
                        index, index.job(new Path("s3://" + BUCKET + "/" + batchedJob)), rules);
        assertThat(plan.orphans()).hasSize(n);
        long requestsBefore = store.deleteRequests();
        long t0 = System.nanoTime();
        Sweeper.Result result = new Sweeper(store, new StorageMetrics()).execute(batchedJob, plan);
        long batchedNanos = System.nanoTime() - t0;
        long batchedRequests = store.deleteRequests() - requestsBefore;

        requestsBefore = store.deleteRequests();
        t0 = System.nanoTime();
        for (Path p : single) {
            store.delete(p);
        }
        long singleNanos = System.nanoTime() - t0;
        long singleRequests = store.deleteRequests() - requestsBefore;

        assertThat(result.filesDeleted()).isEqualTo(n);
        assertThat(batchedRequests).isEqualTo(10);
        assertThat(singleRequests).isEqualTo(n);
        assertThat(keys("bench")).isEmpty();
        System.out.printf(
                "DELETE-BENCH %d orphans on S3Proxy: batched %d requests %.2f s, one per file %d requests %.2f s,"
                        + " ratio %.1fx%n",
                n,
                batchedRequests,
                batchedNanos / 1e9,
                singleRequests,
                singleNanos / 1e9,
                (double) singleNanos / batchedNanos);
    }

    private static void put(String key) {
        sdk.putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromBytes(new byte[] {7}));
    }

    private static List<Path> putMany(String prefix, int n) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<Path>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                String key = prefix + i;
                futures.add(
                        pool.submit(
                                () -> {
                                    put(key);
                                    return new Path("s3://" + BUCKET + "/" + key);
                                }));
            }
            List<Path> paths = new ArrayList<>();
            for (Future<Path> f : futures) {
                paths.add(f.get(120, TimeUnit.SECONDS));
            }
            return paths;
        } finally {
            pool.shutdownNow();
        }
    }

    private static List<String> keys(String prefix) {
        List<String> keys = new ArrayList<>();
        sdk.listObjectsV2Paginator(b -> b.bucket(BUCKET).prefix(prefix))
                .contents()
                .forEach(o -> keys.add(o.key()));
        return keys;
    }
}
