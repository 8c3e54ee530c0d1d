package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import java.time.Duration;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

/** Keys of the HDFS store adapter, under the storage's namespace. */
public final class HdfsStoreOptions {

    public static final ConfigOption<Integer> REPLICATION =
            ConfigOptions.key(ResilientCheckpointOptions.PREFIX + "hdfs.replication")
                    .intType()
                    .defaultValue(0)
                    .withDescription(
                            "Replication of checkpoint files written through the HDFS adapter; 0 keeps"
                                    + " the cluster's 'dfs.replication'.");

    public static final ConfigOption<String> STORAGE_POLICY =
            ConfigOptions.key(ResilientCheckpointOptions.PREFIX + "hdfs.storage-policy")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "HDFS storage policy (e.g. ALL_SSD, ONE_SSD, HOT) set on each directory the"
                                    + " adapter writes checkpoint files into; unset leaves it inherited.");

    public static final ConfigOption<Duration> QUOTA_CHECK_INTERVAL =
            ConfigOptions.key(ResilientCheckpointOptions.PREFIX + "hdfs.quota-check-interval")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(10))
                    .withDescription(
                            "How old the cached quota headroom of the checkpoint directory may be before"
                                    + " an upload asks the NameNode again. Between checks, bytes this"
                                    + " TaskManager uploaded are subtracted from the cached headroom.");

    private HdfsStoreOptions() {}
}
