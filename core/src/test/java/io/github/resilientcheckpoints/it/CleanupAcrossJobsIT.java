package io.github.resilientcheckpoints.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.cleanup.JanitorAccess;
import io.github.resilientcheckpoints.cleanup.MetadataReferences;
import io.github.resilientcheckpoints.cleanup.OfflineCleanup;
import io.github.resilientcheckpoints.cleanup.SweepPlan;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.testing.CountingJob;
import io.github.resilientcheckpoints.testing.LiveTree;
import io.github.resilientcheckpoints.testing.MiniClusters;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
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
 * Cleanup across jobs and restore modes, on directories written by real jobs: a job restored from
 * another job's checkpoint (CLAIM and NO_CLAIM), a {@code _metadata} newer than the checkpoint
 * Flink would restore, and the janitor with {@code num-retained: 0}. Every case ends with an
 * exact-state restore of what the job needs, after the sweep was executed.
 */
class CleanupAcrossJobsIT {

    static final String OURS = ResilientCheckpointStorageFactory.class.getName();
    static final FileTime THREE_DAYS_AGO = FileTime.from(Instant.now().minus(Duration.ofDays(3)));
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
    @TempDir Path otherRoot;
    @TempDir Path spill;

    @BeforeEach
    void reset() {
        CountingJob.resetCounters();
    }

    private Configuration config() {
        Configuration conf = CountingJob.config(OURS, "rocksdb", root.toUri().toString());
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        return conf;
    }

    @Test
    void aJobRestoredInClaimModeKeepsTheFilesItReferencesInTheOldJobsDirectory(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Restored r = claimRestore(cluster, root);
        JobID a = r.a();
        JobID b = r.b();
        Path aDir = r.aDir();
        Path bDir = r.bDir();
        List<Path> bCompleted = r.bCompleted();
        Set<Path> needed = r.needed();
        age(aDir, THREE_DAYS_AGO);
        age(bDir, TWO_DAYS_AGO);

        Run all = cleanup(sweep(root));
        assertThat(all.complete()).as(all.out()).isTrue();
        assertThat(all.out()).contains("referenced by job " + b.toHexString() + " chk-");
        assertAllExist(needed);

        Run retainOne = cleanup(sweep(root).retaining(1));
        assertThat(retainOne.complete()).as(retainOne.out()).isTrue();
        assertThat(retainOne.out()).contains("referenced by job " + b.toHexString() + " chk-");
        assertAllExist(needed);

        Run jobOnly = cleanup(sweep(aDir + "/").retaining(1)); // as typed, with a trailing slash
        assertThat(jobOnly.complete()).as(jobOnly.out()).isTrue();
        assertThat(jobOnly.out())
                .contains("sibling directories included")
                .contains("referenced by job " + b.toHexString() + " chk-");
        assertAllExist(needed);

        Run keepOne = cleanup(sweep(root).keepingJobs(1));
        assertThat(keepOne.complete()).as(keepOne.out()).isTrue();
        assertThat(keepOne.out())
                .contains("job " + a.toHexString() + " not swept whole")
                .contains("referenced by job " + b.toHexString() + " chk-");
        assertAllExist(needed);

        // The janitor of A, once A's own older checkpoints are gone (as when A runs on and Flink
        // subsumes
        // them), keeps what B references in A's shared/ all the same.
        for (Path checkpoint : completed(aDir).subList(0, completed(aDir).size() - 1)) {
            deleteTree(checkpoint);
        }
        SweepPlan janitor =
                JanitorAccess.sweep(
                        new FlinkFileSystemStore(),
                        new org.apache.flink.core.fs.Path(aDir.toUri()),
                        Long.MAX_VALUE / 2,
                        Duration.ofHours(1),
                        List.of());
        assertThat(janitor.errors()).isEmpty();
        assertThat(janitor.notes())
                .as(janitor.summary())
                .anyMatch(n -> n.contains("referenced by job " + b.toHexString() + " chk-"));
        assertAllExist(needed);

        CountingJob.verifyRestore(
                cluster,
                config(),
                bCompleted.get(bCompleted.size() - 1).toUri().toString(),
                CountingJob.PAYLOAD_BYTES);
    }

    @Test
    void aJobRestoredFromAnotherRootIsHonouredWhenThatRootIsNamed(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        Restored r = claimRestore(cluster, otherRoot);
        Path aDir = r.aDir();
        JobID b = r.b();
        List<Path> bCompleted = r.bCompleted();
        Set<Path> needed = r.needed();
        age(aDir, THREE_DAYS_AGO);

        Run honoured = cleanup(sweep(root).retaining(1).honouring(otherRoot.toString()));
        assertThat(honoured.complete()).as(honoured.out()).isTrue();
        assertThat(honoured.out()).contains("referenced by job " + b.toHexString() + " chk-");
        assertAllExist(needed);
        CountingJob.verifyRestore(
                cluster,
                config(),
                bCompleted.get(bCompleted.size() - 1).toUri().toString(),
                CountingJob.PAYLOAD_BYTES);
    }

    @Test
    void aJobRestoredInNoClaimModeKeepsTheRestoredCheckpointUntilItHasItsOwn(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        JobID a = CountingJob.start(cluster, config());
        CountingJob.awaitCompletedCheckpoints(cluster, a, 4);
        Path aDir = root.resolve(a.toHexString());
        cancelAndSettle(cluster, a, aDir);
        Path restored = completed(aDir).get(0);
        Set<Path> restoredNeeds = new TreeSet<>(allFiles(restored));
        restoredNeeds.addAll(references(restored));

        // B restores in NO_CLAIM mode (Flink's default) and has no checkpoint of its own yet.
        CountingJob.resetCounters();
        Configuration noClaim = CountingJob.restoringFrom(config(), restored.toUri().toString());
        noClaim.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofHours(1));
        JobID b = CountingJob.start(cluster, noClaim);
        CountingJob.awaitChecked(cluster, b, 3L * CountingJob.KEYS);
        age(aDir, THREE_DAYS_AGO);

        Run retainOne = cleanup(sweep(root).retaining(1));
        assertThat(retainOne.complete()).as(retainOne.out()).isTrue();
        assertThat(retainOne.out()).contains("job " + b.toHexString() + " was restored from it");
        Run keepOne = cleanup(sweep(root).keepingJobs(1));
        assertThat(keepOne.complete()).as(keepOne.out()).isTrue();
        assertThat(keepOne.out()).contains("job " + a.toHexString() + " not swept whole");
        assertAllExist(restoredNeeds);

        // B's own checkpoints complete: from now on B no longer needs the restored checkpoint.
        for (int i = 0; i < 3; i++) {
            CountingJob.triggerCheckpoint(cluster, b);
        }
        cancelAndSettle(cluster, b, root.resolve(b.toHexString()));
        assertThat(CountingJob.MISMATCHES.get()).isZero();
        // What B would have fallen back to before that restores exactly (each job takes every slot,
        // so this runs after B).
        verifyRestoreAndForget(cluster, restored, Set.of(a, b));

        Path bDir = root.resolve(b.toHexString());
        List<Path> bCompleted = completed(bDir);
        Set<Path> bNeeds = new TreeSet<>();
        for (Path checkpoint : bCompleted) {
            bNeeds.add(checkpoint.resolve("_metadata"));
            bNeeds.addAll(references(checkpoint));
        }
        age(aDir, THREE_DAYS_AGO);
        age(bDir, TWO_DAYS_AGO);
        Run after = cleanup(sweep(root).keepingJobs(1));
        assertThat(after.complete()).as(after.out()).isTrue();
        assertThat(after.out()).doesNotContain("was restored from it");
        assertThat(restored.resolve("_metadata")).as(after.out()).doesNotExist();
        assertAllExist(bNeeds);
        CountingJob.verifyRestore(
                cluster,
                config(),
                bCompleted.get(bCompleted.size() - 1).toUri().toString(),
                CountingJob.PAYLOAD_BYTES);
    }

    @Test
    void theCheckpointBeforeTheNewestStaysRestorableWithRetainOne(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        // If the JobManager died between writing the newest _metadata and committing it, Flink
        // restores
        // the checkpoint before it.
        JobID job = CountingJob.start(cluster, config());
        CountingJob.awaitCompletedCheckpoints(cluster, job, 4);
        Path jobDir = root.resolve(job.toHexString());
        cancelAndSettle(cluster, job, jobDir);
        List<Path> done = completed(jobDir);
        Path beforeNewest = done.get(done.size() - 2);
        age(jobDir, TWO_DAYS_AGO);

        Run run = cleanup(sweep(jobDir).retaining(1));
        assertThat(run.complete()).as(run.out()).isTrue();
        assertThat(run.out())
                .contains("delete file:")
                .contains(
                        "checkpoint "
                                + checkpointId(done.get(0))
                                + " completed but is not among the 1 retained"
                                + " (+1 in case the newest was never committed) kept");
        assertThat(done.get(0).resolve("_metadata")).doesNotExist();
        assertThat(beforeNewest.resolve("_metadata")).exists();
        CountingJob.verifyRestore(
                cluster, config(), beforeNewest.toUri().toString(), CountingJob.PAYLOAD_BYTES);
    }

    @Test
    void theJanitorWithNumRetainedZeroKeepsWhatFlinkKeeps(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        Configuration conf = config();
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 0);
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofSeconds(5));
        conf.set(ResilientCheckpointOptions.JANITOR_ENABLED, true);
        conf.set(ResilientCheckpointOptions.CLEANUP_GRACE, Duration.ofSeconds(5));
        conf.set(ResilientCheckpointOptions.JANITOR_INTERVAL, Duration.ofMillis(100));
        JobID job = CountingJob.start(cluster, conf);
        CountingJob.awaitCompletedCheckpoints(cluster, job, 3);
        Path jobDir = root.resolve(job.toHexString());
        age(jobDir, TWO_DAYS_AGO);
        Path orphan = jobDir.resolve("shared/left-behind");
        Files.write(orphan, new byte[] {1, 2, 3});
        Files.setLastModifiedTime(orphan, TWO_DAYS_AGO);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (Files.exists(orphan) && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        assertThat(orphan).as("the janitor swept").doesNotExist();
        long completed =
                CountingJob.stats(cluster, job).getCounts().getNumberOfCompletedCheckpoints();
        CountingJob.awaitCompletedCheckpoints(cluster, job, completed + 2);
        assertThat(CountingJob.failureMessages(cluster, job)).isEmpty();
        cancelAndSettle(cluster, job, jobDir);
        // Read after the cancel: a checkpoint completing meanwhile would subsume an earlier pick.
        String checkpoint = CountingJob.latestCheckpointPath(cluster, job);
        // Every checkpoint Flink still retains is whole.
        for (Path retained : completed(jobDir)) {
            assertAllExist(references(retained));
        }
        CountingJob.verifyRestore(cluster, config(), checkpoint, CountingJob.PAYLOAD_BYTES);
    }

    // ------------------------------------------------------------------ helpers

    /**
     * Job A under {@code root}, then job B restored from A's oldest retained checkpoint in CLAIM
     * mode.
     */
    private record Restored(
            JobID a, Path aDir, JobID b, Path bDir, List<Path> bCompleted, Set<Path> needed) {}

    private Restored claimRestore(MiniCluster cluster, Path bRoot) throws Exception {
        JobID a = CountingJob.start(cluster, config());
        CountingJob.awaitCompletedCheckpoints(cluster, a, 5);
        Path aDir = root.resolve(a.toHexString());
        cancelAndSettle(cluster, a, aDir);
        List<Path> aCompleted = completed(aDir);
        assertThat(aCompleted).hasSize(3);

        CountingJob.resetCounters();
        Configuration claim =
                CountingJob.restoringFrom(config(), aCompleted.get(0).toUri().toString());
        claim.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, bRoot.toUri().toString());
        // By name: the enum is RecoveryClaimMode on Flink 2.x and RestoreMode on 1.20.
        claim.addAll(
                Configuration.fromMap(Map.of(StateRecoveryOptions.RESTORE_MODE.key(), "CLAIM")));
        JobID b = CountingJob.start(cluster, claim);
        CountingJob.awaitChecked(cluster, b, 3L * CountingJob.KEYS);
        CountingJob.awaitCompletedCheckpoints(cluster, b, 2);
        Path bDir = bRoot.resolve(b.toHexString());
        cancelAndSettle(cluster, b, bDir);
        assertThat(CountingJob.MISMATCHES.get()).isZero();
        List<Path> bCompleted = completed(bDir);
        Set<Path> needed = new TreeSet<>();
        for (Path checkpoint : bCompleted) {
            needed.add(checkpoint.resolve("_metadata"));
            needed.addAll(references(checkpoint));
        }
        assertThat(needed.stream().filter(p -> p.startsWith(aDir)))
                .as("in CLAIM mode the new job's checkpoints reference the old job's shared files")
                .isNotEmpty();
        return new Restored(a, aDir, b, bDir, bCompleted, needed);
    }

    private record Run(boolean complete, String out) {}

    /** Deletes what is older than an hour (every file the tests age). */
    private static OfflineCleanup.Request sweep(Path dir) {
        return sweep(dir.toString());
    }

    private static OfflineCleanup.Request sweep(String dir) {
        return OfflineCleanup.Request.dryRun(dir, Duration.ofHours(1)).executing(true);
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

    /** Restores from {@code checkpoint} exactly, then removes the verifying job's own directory. */
    private void verifyRestoreAndForget(MiniCluster cluster, Path checkpoint, Set<JobID> keep)
            throws Exception {
        CountingJob.verifyRestore(
                cluster, config(), checkpoint.toUri().toString(), CountingJob.PAYLOAD_BYTES);
        try (Stream<Path> s = Files.list(root)) {
            for (Path dir : s.toList()) {
                if (keep.stream()
                        .noneMatch(j -> j.toHexString().equals(dir.getFileName().toString()))) {
                    deleteTree(dir);
                }
            }
        }
    }

    static List<Path> completed(Path jobDir) throws Exception {
        try (Stream<Path> s = Files.list(jobDir)) {
            return s.filter(
                            p ->
                                    p.getFileName().toString().startsWith("chk-")
                                            && Files.exists(p.resolve("_metadata")))
                    .sorted(Comparator.comparingLong(CleanupAcrossJobsIT::checkpointId))
                    .toList();
        }
    }

    static long checkpointId(Path checkpointDir) {
        return Long.parseLong(checkpointDir.getFileName().toString().substring("chk-".length()));
    }

    static Set<Path> references(Path checkpointDir) throws Exception {
        Set<Path> files = new TreeSet<>();
        for (String key :
                MetadataReferences.read(
                        new org.apache.flink.core.fs.Path(checkpointDir.toUri()),
                        CleanupAcrossJobsIT.class.getClassLoader())) {
            files.add(Paths.get(URI.create(key)));
        }
        return files;
    }

    static void assertAllExist(Set<Path> files) {
        for (Path p : files) {
            assertThat(p).as("a file a restore needs").exists();
        }
    }

    /** Ages every file still there: a running job, or Flink after a cancel, deletes meanwhile. */
    static void age(Path dir, FileTime time) throws Exception {
        LiveTree.age(dir, time);
    }

    static List<Path> allFiles(Path dir) throws Exception {
        return LiveTree.files(dir, p -> true);
    }

    static void deleteTree(Path dir) throws Exception {
        LiveTree.delete(dir);
    }

    /**
     * Cancels the job and waits (at most 20 s) until its directory has settled: Flink and the
     * storage delete a subsumed or aborted checkpoint in the background after the cancel returns.
     */
    static void cancelAndSettle(MiniCluster cluster, JobID job, Path jobDir) throws Exception {
        CountingJob.cancel(cluster, job);
        LiveTree.settled(jobDir, Duration.ofSeconds(1), Duration.ofSeconds(20));
    }
}
