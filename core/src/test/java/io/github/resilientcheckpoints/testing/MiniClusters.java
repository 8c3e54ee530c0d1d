package io.github.resilientcheckpoints.testing;

import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.MiniClusterExtension;

/** The MiniCluster the ITs share the shape of: one TaskManager, four slots. */
public final class MiniClusters {

    private MiniClusters() {}

    public static MiniClusterExtension oneTaskManager() {
        return new MiniClusterExtension(
                new MiniClusterResourceConfiguration.Builder()
                        .setNumberTaskManagers(1)
                        .setNumberSlotsPerTaskManager(4)
                        .build());
    }
}
