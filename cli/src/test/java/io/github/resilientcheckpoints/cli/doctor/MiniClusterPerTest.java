package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.testing.MiniClusters;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.CheckpointStatsSnapshot;
import org.apache.flink.runtime.checkpoint.FailedCheckpointStats;
import org.apache.flink.runtime.client.JobStatusMessage;
import org.apache.flink.runtime.executiongraph.ArchivedExecutionGraph;
import org.apache.flink.runtime.executiongraph.ErrorInfo;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.scheduler.ExecutionGraphInfo;
import org.apache.flink.runtime.scheduler.exceptionhistory.RootExceptionHistoryEntry;
import org.apache.flink.runtime.testutils.MiniClusterResource;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.util.SerializedThrowable;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.FileAppender;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A MiniCluster of its own for every test method (register it on an instance field), injected as a
 * {@link MiniCluster} parameter. Nothing of one test's cluster (slots, jobs, REST caches) is seen
 * by the next.
 *
 * <p>Before the test ends, every job still running is cancelled and awaited until the JobManager
 * reports it terminal, so that no task writes into the test's directories while JUnit deletes them.
 * A job that failed on its own (not by this cancellation), or that does not end, fails the test.
 *
 * <p>When the test fails, the failure carries (as a suppressed exception) what explains it: every
 * job of the cluster with its status, failure and exception history, its checkpoint counts and
 * failed checkpoints' messages, and the last lines the test wrote to the test log.
 */
final class MiniClusterPerTest
        implements BeforeEachCallback,
                AfterEachCallback,
                ParameterResolver,
                TestExecutionExceptionHandler {

    private static final Logger LOG = LoggerFactory.getLogger(MiniClusterPerTest.class);

    /** How long a cancelled job may take to end (a _metadata write in flight holds the cancel). */
    private static final long END_TIMEOUT_SECONDS = 180;

    private static final long QUERY_TIMEOUT_SECONDS = 10;
    private static final int LOG_LINES = 80;
    private static final int MAX_CAUSES = 10;
    private static final int FRAMES_PER_CAUSE = 3;

    private final int slots;
    private final Supplier<Configuration> config;

    private MiniClusterResource resource;
    private Path logFile;
    private long logOffset;
    private boolean reported;

    /**
     * @param slots slots of the cluster's one TaskManager: enough for the largest job a test runs
     *     (jobs run one at a time)
     */
    MiniClusterPerTest(int slots, Supplier<Configuration> config) {
        this.slots = slots;
        this.config = config;
    }

    MiniCluster cluster() {
        if (resource == null) {
            throw new IllegalStateException("no MiniCluster outside of a test");
        }
        return resource.getMiniCluster();
    }

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        logFile = testLog();
        logOffset = size(logFile);
        reported = false;
        LOG.info("==== {}: starting a MiniCluster", name(context));
        resource =
                new MiniClusterResource(
                        new MiniClusterResourceConfiguration.Builder()
                                .setNumberTaskManagers(1)
                                .setNumberSlotsPerTaskManager(slots)
                                .setConfiguration(config.get())
                                .build());
        resource.before();
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        if (resource == null) {
            return;
        }
        try {
            List<String> problems = endAllJobs();
            if (!problems.isEmpty()) {
                // after a failed test, the report is already in its failure
                throw new AssertionError(
                        String.join("\n", problems)
                                + "\n"
                                + (reported
                                        ? "(the jobs as the test failed are reported with its failure)"
                                        : report()));
            }
        } finally {
            LOG.info("==== {}: closing the MiniCluster", name(context));
            resource.after();
            resource = null;
        }
    }

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable failure)
            throws Throwable {
        if (resource != null) {
            failure.addSuppressed(new JobsReport(report()));
            reported = true;
        }
        throw failure;
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.getParameter().getType() == MiniCluster.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        return cluster();
    }

    /**
     * Cancels every job that has not ended and waits until each is terminal.
     *
     * @return what went wrong: a job that failed on its own, or one that did not end in time
     */
    private List<String> endAllJobs() throws Exception {
        MiniCluster cluster = cluster();
        Collection<JobStatusMessage> jobs =
                cluster.listJobs().get(QUERY_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        // a job that ended meanwhile is not cancelled: its result below says how
        List<JobID> cancelled = MiniClusters.cancelAll(cluster, jobs);
        List<String> problems = new ArrayList<>();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(END_TIMEOUT_SECONDS);
        for (JobStatusMessage job : jobs) {
            JobID id = job.getJobId();
            long left = Math.max(1, end - System.nanoTime());
            JobResult result;
            try {
                result = cluster.requestJobResult(id).get(left, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                problems.add(
                        "job "
                                + id
                                + " did not end within "
                                + END_TIMEOUT_SECONDS
                                + " s of its cancellation");
                continue;
            }
            if (result.getJobStatus().orElse(null) == JobStatus.FAILED) {
                problems.add(
                        "job "
                                + id
                                + " FAILED during the test"
                                + (cancelled.contains(id) ? " (while being cancelled)" : "")
                                + result.getSerializedThrowable()
                                        .map(t -> ": " + causes(t))
                                        .orElse(""));
            }
        }
        return problems;
    }

    /** Everything the cluster and the test log say about the test's jobs; never throws. */
    String report() {
        StringBuilder sb = new StringBuilder();
        try {
            MiniCluster cluster = cluster();
            Collection<JobStatusMessage> jobs =
                    cluster.listJobs().get(QUERY_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            sb.append("Jobs on this test's MiniCluster: ").append(jobs.size()).append('\n');
            for (JobStatusMessage job : jobs) {
                describe(cluster, job, sb);
            }
        } catch (Exception e) {
            sb.append("(could not list the cluster's jobs: ").append(e).append(")\n");
        }
        sb.append(logTail());
        return sb.toString();
    }

    private static void describe(MiniCluster cluster, JobStatusMessage job, StringBuilder sb) {
        JobID id = job.getJobId();
        sb.append("- job ")
                .append(id)
                .append(" '")
                .append(job.getJobName())
                .append("' ")
                .append(job.getJobState())
                .append('\n');
        try {
            ExecutionGraphInfo info =
                    cluster.getExecutionGraphInfo(id).get(QUERY_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            ArchivedExecutionGraph graph = info.getArchivedExecutionGraph();
            ErrorInfo failure = graph.getFailureInfo();
            if (failure != null) {
                sb.append("  failure: ").append(causes(failure.getException())).append('\n');
            }
            for (RootExceptionHistoryEntry entry : info.getExceptionHistory()) {
                if (failure != null
                        && entry.getExceptionAsString().equals(failure.getExceptionAsString())) {
                    continue; // the failure above
                }
                sb.append("  exception")
                        .append(
                                entry.getFailingTaskName() == null
                                        ? ""
                                        : " in " + entry.getFailingTaskName())
                        .append(": ")
                        .append(causes(entry.getException()))
                        .append('\n');
            }
            CheckpointStatsSnapshot stats = graph.getCheckpointStatsSnapshot();
            if (stats != null) {
                sb.append("  checkpoints: ")
                        .append(stats.getCounts().getNumberOfCompletedCheckpoints())
                        .append(" completed, ")
                        .append(stats.getCounts().getNumberOfFailedCheckpoints())
                        .append(" failed, ")
                        .append(stats.getCounts().getNumberOfInProgressCheckpoints())
                        .append(" in progress\n");
                int shown = 0;
                for (var c : stats.getHistory().getCheckpoints()) {
                    if (c instanceof FailedCheckpointStats && shown++ < 5) {
                        sb.append("  failed checkpoint ")
                                .append(c.getCheckpointId())
                                .append(": ")
                                .append(((FailedCheckpointStats) c).getFailureMessage())
                                .append('\n');
                    }
                }
            }
        } catch (Exception e) {
            sb.append("  (could not read the job's execution graph: ").append(e).append(")\n");
        }
    }

    /** The cause chain, each cause with its first frames: what explains a failure, briefly. */
    static String causes(Throwable failure) {
        StringBuilder sb = new StringBuilder();
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Throwable t = failure;
        for (int depth = 0; t != null && depth < MAX_CAUSES && seen.add(t); depth++) {
            sb.append(depth == 0 ? "" : "\n    caused by: ")
                    // a SerializedThrowable's message is the original's class and message
                    .append(t instanceof SerializedThrowable ? t.getMessage() : t.toString());
            StackTraceElement[] frames = t.getStackTrace();
            for (int i = 0; i < frames.length && i < FRAMES_PER_CAUSE; i++) {
                sb.append("\n        at ").append(frames[i]);
            }
            t = t.getCause();
        }
        return sb.toString();
    }

    /** The last lines this test wrote to the test log. */
    private String logTail() {
        if (logFile == null || !Files.exists(logFile)) {
            return "(no test log at " + logFile + ")\n";
        }
        Deque<String> tail = new ArrayDeque<>();
        long lines = 0;
        try (RandomAccessFile file = new RandomAccessFile(logFile.toFile(), "r")) {
            file.seek(Math.min(logOffset, file.length()));
            byte[] rest = new byte[(int) Math.min(file.length() - file.getFilePointer(), 64 << 20)];
            file.readFully(rest);
            int frames = 0;
            for (String line : new String(rest, StandardCharsets.UTF_8).split("\n")) {
                lines++;
                // stack traces shortened to their first frames
                frames = line.startsWith("\tat ") || line.startsWith("\t... ") ? frames + 1 : 0;
                if (frames > FRAMES_PER_CAUSE) {
                    continue;
                }
                tail.addLast(line.length() > 500 ? line.substring(0, 500) + " ..." : line);
                if (tail.size() > LOG_LINES) {
                    tail.removeFirst();
                }
            }
        } catch (IOException e) {
            return "(could not read the test log " + logFile + ": " + e + ")\n";
        }
        return "Last "
                + tail.size()
                + " of the "
                + lines
                + " lines this test wrote (stack traces shortened) to "
                + logFile.toAbsolutePath()
                + ":\n"
                + String.join("\n", tail)
                + "\n";
    }

    /** The file the test log4j configuration writes to (target/test-logs/cli.log). */
    private static Path testLog() {
        try {
            LoggerContext context = (LoggerContext) LogManager.getContext(false);
            for (Appender appender : context.getConfiguration().getAppenders().values()) {
                if (appender instanceof FileAppender) {
                    return Paths.get(((FileAppender) appender).getFileName());
                }
            }
        } catch (ClassCastException e) {
            // another logging backend: the configured default below
        }
        return Paths.get("target", "test-logs", "cli.log");
    }

    private static long size(Path file) {
        try {
            return Files.exists(file) ? Files.size(file) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static String name(ExtensionContext context) {
        return context.getRequiredTestClass().getSimpleName() + "." + context.getDisplayName();
    }

    /** Carries the report into the failure that Surefire prints. */
    private static final class JobsReport extends Exception {
        JobsReport(String report) {
            super("What the test's MiniCluster and log say:\n" + report, null, false, false);
        }
    }
}
