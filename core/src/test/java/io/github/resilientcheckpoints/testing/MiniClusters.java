package io.github.resilientcheckpoints.testing;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.runtime.client.JobStatusMessage;
import org.apache.flink.runtime.messages.FlinkJobTerminatedWithoutCancellationException;
import org.apache.flink.runtime.messages.webmonitor.ClusterOverview;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.ExceptionUtils;

/**
 * The MiniCluster the ITs share the shape of (one TaskManager, four slots), and what a test that
 * shares one owes the next: Flink's extension leaves a test's jobs running, so every class that
 * shares a cluster ends them after each test with {@link #endAllJobs}.
 */
public final class MiniClusters {

    private static final long END_SECONDS = 120;
    private static final long SLOTS_SECONDS = 60;

    private MiniClusters() {}

    public static MiniClusterExtension oneTaskManager() {
        return new MiniClusterExtension(
                new MiniClusterResourceConfiguration.Builder()
                        .setNumberTaskManagers(1)
                        .setNumberSlotsPerTaskManager(4)
                        .build());
    }

    /**
     * Cancels every job of the cluster that has not ended, waits (at most 120 s) until each has
     * ended, then (at most 60 s) until all slots are free again. A test that failed half-way leaves
     * no job that writes into its deleted directories or holds the next test's slots.
     */
    public static void endAllJobs(MiniCluster cluster) throws Exception {
        List<JobID> running = cancelAll(cluster, cluster.listJobs().get(30, TimeUnit.SECONDS));
        for (JobID job : running) {
            cluster.requestJobResult(job).get(END_SECONDS, TimeUnit.SECONDS);
        }
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(SLOTS_SECONDS);
        ClusterOverview overview = cluster.requestClusterOverview().get(30, TimeUnit.SECONDS);
        while (overview.getNumSlotsAvailable() < overview.getNumSlotsTotal()) {
            if (System.nanoTime() > end) {
                throw new AssertionError(
                        "slots still taken "
                                + SLOTS_SECONDS
                                + " s after the jobs "
                                + running
                                + " ended: "
                                + overview.getNumSlotsAvailable()
                                + " of "
                                + overview.getNumSlotsTotal()
                                + " free");
            }
            Thread.sleep(20);
            overview = cluster.requestClusterOverview().get(30, TimeUnit.SECONDS);
        }
    }

    /**
     * Cancels every job of {@code jobs} that has not ended; a job that ended meanwhile is left as
     * it ended, any other failure to cancel is thrown.
     *
     * @return the jobs cancelled
     */
    public static List<JobID> cancelAll(MiniCluster cluster, Collection<JobStatusMessage> jobs)
            throws Exception {
        List<JobID> cancelled = new ArrayList<>();
        for (JobStatusMessage job : jobs) {
            if (!job.getJobState().isGloballyTerminalState()) {
                try {
                    cluster.cancelJob(job.getJobId()).get(60, TimeUnit.SECONDS);
                    cancelled.add(job.getJobId());
                } catch (ExecutionException e) {
                    if (ExceptionUtils.findThrowable(
                                    e, FlinkJobTerminatedWithoutCancellationException.class)
                            .isEmpty()) {
                        throw e;
                    }
                }
            }
        }
        return cancelled;
    }
}
