package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStoreProvider;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.util.Map;
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
                FileSystem.newInstance(checkpointRoot, hadoop),
                replication,
                config.get(HdfsStoreOptions.STORAGE_POLICY),
                config.get(HdfsStoreOptions.QUOTA_CHECK_INTERVAL),
                Ticker.SYSTEM);
    }

    /**
     * As Flink builds it: the Hadoop defaults and {@code *-site.xml} on the classpath, the files in
     * {@code HADOOP_CONF_DIR}, then every {@code flink.hadoop.<key>} of the Flink configuration.
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
        return hadoop;
    }
}
