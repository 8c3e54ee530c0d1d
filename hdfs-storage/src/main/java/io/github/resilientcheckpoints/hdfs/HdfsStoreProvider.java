package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.store.Causes;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStoreProvider;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.Map;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/** Serves {@code hdfs://} checkpoint directories with {@link HdfsStore}. */
public final class HdfsStoreProvider implements CheckpointStoreProvider {

    static final String FLINK_HADOOP_PREFIX = "flink.hadoop.";

    @Override
    public boolean supportsScheme(String scheme) {
        return "hdfs".equals(scheme);
    }

    /** Whether a key has a value from anywhere but Hadoop's own {@code *-default.xml}. */
    private static boolean setByUser(Configuration hadoop, String key) {
        if (hadoop.get(key) == null) {
            return false;
        }
        String[] sources = hadoop.getPropertySources(key);
        if (sources == null) {
            return true;
        }
        for (String source : sources) {
            if (!source.endsWith("-default.xml")) {
                return true;
            }
        }
        return false;
    }

    @Override
    public int priority() {
        return 10;
    }

    @Override
    public CheckpointStore create(URI checkpointRoot, ReadableConfig config) throws IOException {
        Configuration hadoop = hadoopConfiguration(config);
        int replication = config.get(HdfsStoreOptions.REPLICATION);
        if (replication < 0 || replication > Short.MAX_VALUE) {
            throw new IOException(
                    "Invalid value "
                            + replication
                            + " for '"
                            + HdfsStoreOptions.REPLICATION.key()
                            + "': expected 0 (cluster default) or a replication factor up to "
                            + Short.MAX_VALUE);
        }
        return new HdfsStore(
                newFileSystem(checkpointRoot, hadoop),
                replication,
                config.get(HdfsStoreOptions.STORAGE_POLICY),
                config.get(HdfsStoreOptions.QUOTA_CHECK_INTERVAL),
                Ticker.SYSTEM);
    }

    /**
     * The store's own Hadoop file system. Hadoop reports a NameNode host that does not resolve as
     * an unchecked {@code IllegalArgumentException(UnknownHostException)}: it becomes an {@link
     * IOException} naming the checkpoint directory and the host (transient: DNS may come back).
     */
    static FileSystem newFileSystem(URI checkpointRoot, Configuration hadoop) throws IOException {
        try {
            return FileSystem.newInstance(checkpointRoot, hadoop);
        } catch (IllegalArgumentException e) {
            if (e.getCause() instanceof UnknownHostException) {
                throw new IOException(
                        "Cannot reach HDFS for '"
                                + checkpointRoot
                                + "': the NameNode host '"
                                + Causes.message(e.getCause())
                                + "' does not resolve. Check the host in"
                                + " '"
                                + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                                + "' (or the nameservice in the Hadoop"
                                + " configuration) and DNS.",
                        e.getCause());
            }
            throw e;
        }
    }

    /** How long the client waits before it first asks the NameNode again to complete a file. */
    static final String COMPLETE_FIRST_DELAY =
            "dfs.client.block.write.locateFollowingBlock.initial.delay.ms";

    /** How many times it asks again, the wait doubling each time. */
    static final String COMPLETE_RETRIES = "dfs.client.block.write.locateFollowingBlock.retries";

    /**
     * As Flink builds it: the Hadoop defaults and {@code *-site.xml} on the classpath, the files in
     * {@code HADOOP_CONF_DIR}, then every {@code flink.hadoop.<key>} of the Flink configuration.
     *
     * <p>One default differs, unless either key is set: closing a file asks the NameNode to
     * complete it, and while the NameNode has not yet heard from the DataNodes about the last
     * block, Hadoop's client waits 400 ms before asking again (then 800, 1600, 3200, 6400 ms: 12.4
     * s in all). Every state file's commit waits for that. Ours asks again after 50 ms, doubling, 8
     * times: 12.75 s in all, the same patience with a first answer 350 ms sooner.
     */
    static Configuration hadoopConfiguration(ReadableConfig config) {
        Configuration hadoop = new Configuration();
        String confDir = System.getenv("HADOOP_CONF_DIR");
        if (confDir != null) {
            for (String name : new String[] {"core-site.xml", "hdfs-site.xml"}) {
                File file = new File(confDir, name);
                if (file.isFile()) {
                    hadoop.addResource(new Path(file.getAbsolutePath()));
                }
            }
        }
        if (config instanceof org.apache.flink.configuration.Configuration) {
            for (Map.Entry<String, String> e :
                    ((org.apache.flink.configuration.Configuration) config).toMap().entrySet()) {
                if (e.getKey().startsWith(FLINK_HADOOP_PREFIX)) {
                    hadoop.set(e.getKey().substring(FLINK_HADOOP_PREFIX.length()), e.getValue());
                }
            }
        }
        applyClientDefaults(hadoop);
        return hadoop;
    }

    /**
     * The store's own client defaults (see {@link #hadoopConfiguration}), on a Hadoop configuration
     * built elsewhere: a value the user set for either key stays.
     */
    public static void applyClientDefaults(Configuration hadoop) {
        if (!setByUser(hadoop, COMPLETE_FIRST_DELAY) && !setByUser(hadoop, COMPLETE_RETRIES)) {
            hadoop.set(COMPLETE_FIRST_DELAY, "50", "resilient-checkpoint-storage");
            hadoop.set(COMPLETE_RETRIES, "8", "resilient-checkpoint-storage");
        }
    }
}
