package io.github.resilientcheckpoints.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.cleanup.OfflineCleanup;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.LiveTree;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cleanup on directories written by real jobs: what is swept, what is never touched, what still
 * restores.
 */
class CleanupIT {

    static final String OURS = ResilientCheckpointStorageFactory.class.getName();
    static final FileTime TWO_DAYS_AGO = FileTime.from(Instant.now().minus(Duration.ofDays(2)));

    /** Flink reads the number of retained checkpoints from the cluster's configuration. */
    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER =
            new MiniClusterExtension(
                    new MiniClusterResourceConfiguration.Builder()
                            .setNumberTaskManagers(1)
                            .setNumberSlotsPerTaskManager(4)
                            .setConfiguration(retainThree())
                            .build());

    /** Flink's extension leaves a test's jobs running: they end before the next test. */
    @AfterEach
    void endJobs(@InjectMiniCluster MiniCluster cluster) throws Exception {
        MiniClusters.endAllJobs(cluster);
    }

    private static Configuration retainThree() {
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 3);
        return conf;
    }

    @TempDir Path root;
    @TempDir Path outside;
    @TempDir Path spill;

    @BeforeEach
    void reset() {
        CountingJob.resetCounters();
    }

    private Configuration config() {
        Configuration conf = CountingJob.config(OURS, "rocksdb", root.toUri().toString());
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 3);
        return conf;
    }

    private record Run(boolean complete, String out) {}

    /** The default grace for Flink's default checkpoint timeout: everything planted is older. */
    private static OfflineCleanup.Request sweep(Path dir) {
        return OfflineCleanup.Request.dryRun(dir.toString(), Duration.ofHours(1)).executing(true);
    }

    private static Run cleanup(OfflineCleanup.Request request) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        OfflineCleanup.Report report =
                OfflineCleanup.run(
                        request,
                        new FlinkFileSystemStore(),
                        System.currentTimeMillis(),
                        new PrintStream(out, true, StandardCharsets.UTF_8));
        return new Run(report.complete(), out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void sweepDeletesOnlyOrphansAndEveryRetainedCheckpointStillRestores(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        JobID job = CountingJob.start(cluster, config());
        CountingJob.awaitCompletedCheckpoints(cluster, job, 6);
        CountingJob.cancel(cluster, job);
        Path jobDir = root.resolve(job.toHexString());
        // After the cancel, Flink and the storage may still be deleting a subsumed or aborted
        // checkpoint, and a checkpoint the cancel aborted may have left real orphans (a shared
        // file uploaded as it was aborted: in a loaded run the sweep rightly found a fourth). So
        // the planted files are asserted exactly; what the job left is only asserted safe.
        LiveTree.settled(jobDir, Duration.ofSeconds(1), Duration.ofSeconds(20));
        List<Path> retained = retainedCheckpoints(jobDir, 3);
        List<Path> inRetained = new ArrayList<>();
        for (Path checkpoint : retained) {
            inRetained.addAll(LiveTree.files(checkpoint, p -> true));
        }
        assertThat(inRetained)
                .as("state files and _metadata of %s", retained)
                .hasSizeGreaterThanOrEqualTo(3);

        // Orphans and things that must never be touched.
        Path ghost = write(jobDir.resolve("chk-0/ghost"));
        Path oldOrphan = write(jobDir.resolve("shared/orphan-old"));
        Path oldTaskOwned = write(jobDir.resolve("taskowned/old-task-owned"));
        Path savepoint = write(jobDir.resolve("savepoint-1a2b3c/_metadata"));
        Path precious = write(outside.resolve("precious"));
        Path link = Files.createSymbolicLink(jobDir.resolve("shared/link-out"), precious);
        Path linkDir = Files.createSymbolicLink(jobDir.resolve("shared/dir-out"), outside);
        LiveTree.age(jobDir, TWO_DAYS_AGO);
        Files.setLastModifiedTime(precious, TWO_DAYS_AGO);
        Path young = write(jobDir.resolve("shared/orphan-young"));

        Run dry = cleanup(sweep(jobDir).executing(false));
        assertThat(dry.complete()).as(dry.out()).isTrue();
        assertThat(dry.out())
                .contains("would delete file:" + ghost + " (3 bytes")
                .contains("checkpoint 0 has no _metadata")
                .contains("would delete file:" + oldOrphan + " (3 bytes")
                .contains("would delete file:" + oldTaskOwned + " (3 bytes")
                .contains("not referenced by any retained checkpoint")
                .doesNotContain("orphan-young")
                .doesNotContain("savepoint")
                .doesNotContain("precious")
                .doesNotContain("link-out")
                .doesNotContain("dir-out")
                .contains("Dry run: nothing was deleted");
        assertThat(count(dry.out(), "Summary: (\\d+) orphaned files")).isGreaterThanOrEqualTo(3);
        for (Path p : inRetained) {
            assertThat(dry.out()).doesNotContain(p.toUri().getPath());
        }
        assertThat(ghost).exists();
        assertThat(oldOrphan).exists();

        Run run = cleanup(sweep(jobDir));
        assertThat(run.complete()).as(run.out()).isTrue();
        assertThat(count(run.out(), "Deleted (\\d+) files")).isGreaterThanOrEqualTo(3);
        assertThat(ghost).doesNotExist();
        assertThat(jobDir.resolve("chk-0")).doesNotExist();
        assertThat(oldOrphan).doesNotExist();
        assertThat(oldTaskOwned).doesNotExist();
        assertThat(young).exists();
        assertThat(savepoint).exists();
        assertThat(precious).exists();
        assertThat(Files.isSymbolicLink(link)).isTrue();
        assertThat(Files.isSymbolicLink(linkDir)).isTrue();
        for (Path p : inRetained) {
            assertThat(p).exists();
        }

        // the shared files the retained checkpoints reference: kept, or these restores fail
        for (Path checkpoint : retained) {
            CountingJob.verifyRestore(
                    cluster, config(), checkpoint.toUri().toString(), CountingJob.PAYLOAD_BYTES);
        }
    }

    @Test
    void anUnreadableMetadataStopsTheSweepOfThatJob() throws Exception {
        Path jobDir = root.resolve("0123456789abcdef0123456789abcdef");
        write(jobDir.resolve("chk-5/_metadata"));
        Path shared = write(jobDir.resolve("shared/unreferenced"));
        Files.setLastModifiedTime(shared, TWO_DAYS_AGO);
        Run run = cleanup(sweep(root));
        assertThat(run.complete()).isFalse();
        assertThat(run.out())
                .contains("NOT SWEPT: Cannot read")
                .contains(jobDir.resolve("chk-5/_metadata").toString())
                .contains("its references are unknown, so nothing is deleted");
        assertThat(shared).exists();
    }

    @Test
    void pathTricksAndNonCheckpointDirectoriesAreRefused() throws Exception {
        Path jobDir = root.resolve("0123456789abcdef0123456789abcdef");
        write(jobDir.resolve("chk-5/_metadata"));
        Path plain = write(outside.resolve("notes/readme.txt")).getParent();

        assertThatThrownBy(() -> cleanup(sweep(Paths.get(root + "/x/../" + jobDir.getFileName()))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Refusing path with '..' segments");
        assertThatThrownBy(() -> cleanup(sweep(plain)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not a Flink checkpoint directory");
        assertThatThrownBy(() -> cleanup(sweep(jobDir.resolve("chk-5"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("holds a _metadata itself");
        assertThat(jobDir.resolve("chk-5/_metadata")).exists();
        assertThat(plain.resolve("readme.txt")).exists();
    }

    @Test
    void keepJobsSweepsOlderJobDirectoriesWhole() throws Exception {
        Path oldJob = root.resolve("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        Path newJob = root.resolve("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        Path oldFile = write(oldJob.resolve("shared/x"));
        Path oldChk = write(oldJob.resolve("chk-1/data"));
        Files.setLastModifiedTime(oldFile, TWO_DAYS_AGO);
        Files.setLastModifiedTime(oldChk, TWO_DAYS_AGO);
        Path newFile = write(newJob.resolve("shared/y"));
        Run run = cleanup(sweep(root).keepingJobs(1));
        assertThat(run.complete()).as(run.out()).isTrue();
        assertThat(run.out()).contains("is not among the newest 1 jobs");
        assertThat(oldFile).doesNotExist();
        assertThat(oldChk).doesNotExist();
        assertThat(newFile).exists();
    }

    @Test
    void theOnlineJanitorSweepsOrphansWhileTheJobRuns(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        Configuration conf = config();
        conf.set(ResilientCheckpointOptions.JANITOR_ENABLED, true);
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofSeconds(5));
        conf.set(ResilientCheckpointOptions.CLEANUP_GRACE, Duration.ofSeconds(5));
        conf.set(ResilientCheckpointOptions.JANITOR_INTERVAL, Duration.ofMillis(100));
        long deletedBefore = StorageRuntime.shared().metrics().cleanupFilesDeleted();
        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 2);
        Path jobDir = root.resolve(job.toHexString());
        Path orphan = write(jobDir.resolve("shared/left-behind"));
        Path ghost = write(jobDir.resolve("chk-0/ghost"));
        Files.setLastModifiedTime(orphan, TWO_DAYS_AGO);
        Files.setLastModifiedTime(ghost, TWO_DAYS_AGO);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while ((Files.exists(orphan) || Files.exists(ghost)) && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        assertThat(orphan).doesNotExist();
        assertThat(ghost).doesNotExist();
        long completed =
                CountingJob.stats(cluster, job).getCounts().getNumberOfCompletedCheckpoints();
        CountingJob.awaitCompletedCheckpoints(cluster, job, completed + 3);
        assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
        assertThat(StorageRuntime.shared().metrics().cleanupFilesDeleted())
                .isGreaterThanOrEqualTo(deletedBefore + 2);
        String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
        CountingJob.cancel(cluster, job);

        CountingJob.verifyRestore(cluster, config(), checkpoint, CountingJob.PAYLOAD_BYTES);
    }

    private static Path write(Path file) throws Exception {
        Files.createDirectories(file.getParent());
        return Files.write(file, new byte[] {1, 2, 3});
    }

    /**
     * The {@code retain} newest checkpoint directories with a {@code _metadata}: Flink retains
     * those; an older one may still be on its way out (subsumed just before the cancel).
     */
    private static List<Path> retainedCheckpoints(Path jobDir, int retain) throws Exception {
        List<Path> complete = CleanupAcrossJobsIT.completed(jobDir);
        assertThat(complete)
                .as("completed checkpoints on disk")
                .hasSizeGreaterThanOrEqualTo(retain);
        return complete.subList(complete.size() - retain, complete.size());
    }

    private static int count(String out, String regex) {
        Matcher m = Pattern.compile(regex).matcher(out);
        assertThat(m.find()).as("%s in:%n%s", regex, out).isTrue();
        return Integer.parseInt(m.group(1));
    }
}
