package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.cleanup.MetadataReferences;
import io.github.resilientcheckpoints.cleanup.OfflineCleanup;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Cleanup on S3 under every spelling of the scheme: a job checkpoints to {@code s3a://} (the S3
 * store writes {@code s3://} handles), and the sweep is planned from {@code s3a://}, {@code s3p://}
 * and {@code s3://} roots alike: only the planted orphan is ever planned for deletion, never a file
 * a retained checkpoint references, and the newest checkpoint restores exactly afterwards.
 */
class S3CleanupAliasIT {

    static final String BUCKET = "aliases";

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = MiniClusters.oneTaskManager();

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    @TempDir java.nio.file.Path spill;

    private static S3Server server;
    private static S3Client sdk;

    @BeforeAll
    static void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        sdk = server.client();
        FlinkS3.initialize(FlinkS3.config(server.endpoint()));
    }

    @AfterAll
    static void stop() throws Exception {
        if (sdk != null) {
            sdk.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void everySpellingOfTheSchemeNamesTheSameFiles(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(),
                        "rocksdb",
                        "s3a://" + BUCKET + "/alias");
        conf.addAll(FlinkS3.config(server.endpoint()));
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        int payload = 2048; // SST files above the inline threshold: RocksDB's shared files are real
        // objects
        CountingJob.resetCounters();
        JobID job = CountingJob.start(cluster, conf, payload);
        CountingJob.awaitChecked(cluster, job, 2L * CountingJob.KEYS);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 4);
        CountingJob.cancel(cluster, job);
        // Read after the cancel: a checkpoint completing meanwhile would subsume an earlier pick.
        String latest = CountingJob.latestCheckpointPath(cluster, job);
        Set<String> referenced =
                MetadataReferences.read(new Path(latest), getClass().getClassLoader());
        assertThat(referenced)
                .as("the checkpoint references files in shared/")
                .anyMatch(k -> k.contains("/" + job.toHexString() + "/shared/"));
        String orphanKey = "alias/" + job.toHexString() + "/shared/planted-orphan";
        sdk.putObject(b -> b.bucket(BUCKET).key(orphanKey), RequestBody.fromBytes(new byte[] {7}));
        Thread.sleep(1100); // S3 times have second granularity; the grace below is one second

        for (String scheme : List.of("s3a", "s3p", "s3")) {
            try (CheckpointStore store =
                    new S3StoreProvider().create(URI.create(scheme + "://" + BUCKET + "/"), conf)) {
                Run dry = cleanup(store, scheme + "://" + BUCKET + "/alias", false);
                assertThat(dry.complete()).as(scheme + ": " + dry.out()).isTrue();
                assertThat(dry.out()).as(scheme).contains("would delete").contains(orphanKey);
                for (String key : referenced) {
                    // the same object, whichever scheme the line spells it with
                    assertThat(dry.out())
                            .as(scheme)
                            .doesNotContain(key.substring("s3://".length()));
                }
            }
        }
        try (CheckpointStore store =
                new S3StoreProvider().create(URI.create("s3p://" + BUCKET + "/"), conf)) {
            Run run = cleanup(store, "s3p://" + BUCKET + "/alias", true);
            assertThat(run.complete()).as(run.out()).isTrue();
        }
        assertThat(sdk.listObjectsV2(b -> b.bucket(BUCKET).prefix(orphanKey)).contents()).isEmpty();
        CountingJob.verifyRestore(cluster, conf, latest, payload);
    }

    private record Run(boolean complete, String out) {}

    private static Run cleanup(CheckpointStore store, String dir, boolean execute)
            throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        OfflineCleanup.Report report =
                OfflineCleanup.run(
                        OfflineCleanup.Request.dryRun(dir, Duration.ofSeconds(1))
                                .executing(execute),
                        store,
                        System.currentTimeMillis(),
                        new PrintStream(out, true, StandardCharsets.UTF_8));
        return new Run(report.complete(), out.toString(StandardCharsets.UTF_8));
    }
}
