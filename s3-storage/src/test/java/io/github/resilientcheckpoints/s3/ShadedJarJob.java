package io.github.resilientcheckpoints.s3;

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
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;

/**
 * Runs in a child JVM whose classpath has the shaded s3-storage jar but no AWS SDK: a Flink job
 * checkpoints to s3:// through it. Prints SHADED-OK and exits 0 when all went through the jar.
 */
public final class ShadedJarJob {

    @SuppressWarnings(
            "try") // MiniCluster.close() may throw InterruptedException; the caller propagates it
    public static void main(String[] args) throws Exception {
        URI endpoint = URI.create(args[0]);
        String dir = args[1];
        String spill = args[2];
        try {
            Class.forName("software.amazon.awssdk.services.s3.S3Client");
            System.out.println("an unshaded AWS SDK is on the classpath");
            System.exit(3);
        } catch (ClassNotFoundException expected) {
            // only the relocated SDK inside the jar
        }
        Configuration conf =
                CountingJob.config(
                        ResilientCheckpointStorageFactory.class.getName(), "hashmap", dir);
        conf.addAll(FlinkS3.config(endpoint));
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill));
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        FlinkS3.initialize(FlinkS3.config(endpoint));
        try (CheckpointStore store = CheckpointStores.forRoot(URI.create(dir), conf)) {
            System.out.println(
                    "store: "
                            + store.getClass().getName()
                            + " from "
                            + store.getClass().getProtectionDomain().getCodeSource().getLocation());
        }
        try (MiniCluster cluster =
                new MiniCluster(
                        new MiniClusterConfiguration.Builder()
                                .setNumTaskManagers(1)
                                .setNumSlotsPerTaskManager(4)
                                .build())) {
            cluster.start();
            JobID job = CountingJob.start(cluster, conf, 32 * 1024);
            CountingJob.awaitChecked(cluster, job, 2L * CountingJob.KEYS);
            CountingJob.awaitCompletedCheckpoints(cluster, job, 3);
            List<String> failures = CountingJob.failureMessages(cluster, job);
            CountingJob.cancel(cluster, job);
            long uploads = StorageRuntime.shared().metrics().uploadsSucceeded();
            System.out.println(
                    "uploads "
                            + uploads
                            + ", failed checkpoints "
                            + failures
                            + ", mismatches "
                            + CountingJob.MISMATCHES.get());
            if (uploads > 0 && failures.isEmpty() && CountingJob.MISMATCHES.get() == 0) {
                System.out.println("SHADED-OK");
                System.exit(0);
            }
        }
        System.exit(1);
    }
}
