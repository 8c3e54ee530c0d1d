package io.github.resilientcheckpoints.dist;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.StorageRuntime;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.testing.CountingJob;
import java.net.URI;
import java.util.List;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.plugin.PluginManager;
import org.apache.flink.core.plugin.PluginUtils;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;

/**
 * Runs in a child JVM whose classpath holds Flink, the test job and, of this project, only the
 * installable jar: no core/adapter classes, no Caffeine, no AWS SDK. A keyed job checkpoints to
 * s3:// (Flink's S3 file system from a real plugin directory, as on a cluster), is cancelled and
 * restored, and every key must come back exact. Prints DIST-OK and exits 0 when all went well.
 *
 * <p>Arguments: checkpoint directory, spill directory, then the S3 settings as {@code key=value}.
 */
public final class DistJarJob {

    private DistJarJob() {}

    private static String origin(Class<?> type) {
        return String.valueOf(type.getProtectionDomain().getCodeSource().getLocation());
    }

    @SuppressWarnings(
            "try") // MiniCluster.close() may throw InterruptedException; main propagates it
    public static void main(String[] args) throws Exception {
        String dir = args[0];
        Configuration s3 = new Configuration();
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            s3.setString(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        for (String absent :
                List.of(
                        "com.github.benmanes.caffeine.cache.Caffeine",
                        "software.amazon.awssdk.services.s3.S3Client")) {
            try {
                Class.forName(absent);
                System.out.println("unexpected on the classpath: " + absent);
                System.exit(3);
            } catch (ClassNotFoundException expected) {
                // only what the installable jar brings, relocated
            }
        }
        // As on a cluster: FLINK_PLUGINS_DIR (set by the test) names the plugins directory.
        PluginManager plugins = PluginUtils.createPluginManagerFromRootFolder(s3);
        FileSystem.initialize(s3, plugins);

        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(), "hashmap", dir);
        conf.addAll(s3);
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(args[1]));
        conf.setString(ResilientCheckpointOptions.PREFIX + "s3.part-size", "5 mb");
        conf.setString(ResilientCheckpointOptions.PREFIX + "s3.multipart-threshold", "5 mb");
        try (CheckpointStore store = CheckpointStores.forRoot(URI.create(dir), conf)) {
            System.out.println(
                    "store: " + store.getClass().getName() + " from " + origin(store.getClass()));
        }
        System.out.println("factory from " + origin(ResilientCheckpointStorageFactory.class));
        try (MiniCluster miniCluster =
                new MiniCluster(
                        new MiniClusterConfiguration.Builder()
                                .setNumTaskManagers(1)
                                .setNumSlotsPerTaskManager(4)
                                .build())) {
            miniCluster.start();
            JobID job = CountingJob.start(miniCluster, conf, 32 * 1024);
            CountingJob.awaitChecked(miniCluster, job, 2L * CountingJob.KEYS);
            CountingJob.awaitCompletedCheckpoints(miniCluster, job, 3);
            List<String> failures = CountingJob.failureMessages(miniCluster, job);
            CountingJob.cancel(miniCluster, job);
            // Read after the cancel: a checkpoint completing meanwhile would subsume an earlier
            // pick.
            String latest = CountingJob.latestCheckpointPath(miniCluster, job);
            long uploads = StorageRuntime.shared().metrics().uploadsSucceeded();
            System.out.println(
                    "uploads "
                            + uploads
                            + ", failed checkpoints "
                            + failures
                            + ", mismatches "
                            + CountingJob.MISMATCHES.get()
                            + ", restoring from "
                            + latest);
            // Fails unless every key comes back with exactly its counter and payload.
            CountingJob.verifyRestore(miniCluster, conf, latest, 32 * 1024);
            if (uploads > 0 && failures.isEmpty() && CountingJob.MISMATCHES.get() == 0) {
                System.out.println("DIST-OK");
                System.exit(0);
            }
        }
        System.exit(1);
    }
}
