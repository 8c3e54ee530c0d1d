package io.github.resilientcheckpoints.testing;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionJobVertex;
import org.apache.flink.runtime.jobgraph.JobResourceRequirements;
import org.apache.flink.runtime.jobgraph.JobVertexID;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.rest.messages.job.JobResourceRequirementsBody;
import org.apache.flink.runtime.rest.util.RestMapperUtils;
import org.apache.flink.runtime.testutils.MiniClusterResource;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.util.ExceptionUtils;

/**
 * A MiniCluster of one's own (one TaskManager, four slots) with the scheduler a test chooses, for
 * the tests of a job's whole life: restarts, TaskManager loss, rescaling, cancellation. Closing it
 * cancels what still runs and shuts the cluster down.
 *
 * <p>Rescaling goes through the REST API ({@code PUT /jobs/:jobid/resource-requirements}), what an
 * operator or autoscaler uses and the same on Flink 1.20 and 2.x ({@code
 * MiniCluster.updateJobResourceRequirements} exists only in 2.x).
 */
public final class LifecycleCluster implements AutoCloseable {

    /** The two schedulers of streaming jobs. */
    public enum Scheduler {
        DEFAULT(JobManagerOptions.SchedulerType.Default),
        ADAPTIVE(JobManagerOptions.SchedulerType.Adaptive);

        final JobManagerOptions.SchedulerType type;

        Scheduler(JobManagerOptions.SchedulerType type) {
            this.type = type;
        }
    }

    private final MiniClusterResource resource;

    private LifecycleCluster(MiniClusterResource resource) {
        this.resource = resource;
    }

    /** Starts a cluster with {@code scheduler}; the adaptive one rescales without cooldown. */
    public static LifecycleCluster start(Scheduler scheduler) throws Exception {
        Configuration conf = new Configuration();
        conf.set(JobManagerOptions.SCHEDULER, scheduler.type);
        // Deprecated in 2.x, read there as 'executing.cooldown-after-rescaling' (30 s by default):
        // a rescale must not wait half a minute after the job (re)started.
        conf.set(JobManagerOptions.SCHEDULER_SCALING_INTERVAL_MIN, Duration.ZERO);
        MiniClusterResource resource =
                new MiniClusterResource(
                        new MiniClusterResourceConfiguration.Builder()
                                .setConfiguration(conf)
                                .setNumberTaskManagers(1)
                                .setNumberSlotsPerTaskManager(4)
                                .build());
        resource.before();
        return new LifecycleCluster(resource);
    }

    public MiniCluster cluster() {
        return resource.getMiniCluster();
    }

    /** The job's vertices in topological order. */
    public List<JobVertexID> vertices(JobID job) throws Exception {
        List<JobVertexID> ids = new ArrayList<>();
        for (AccessExecutionJobVertex v : graph(job).getVerticesTopologically()) {
            ids.add(v.getJobVertexId());
        }
        return ids;
    }

    /** The current parallelism of a vertex. */
    public int parallelism(JobID job, JobVertexID vertex) throws Exception {
        AccessExecutionJobVertex v = graph(job).getJobVertex(vertex);
        return v == null ? -1 : v.getParallelism();
    }

    private AccessExecutionGraph graph(JobID job) throws Exception {
        return cluster().getExecutionGraph(job).get(30, TimeUnit.SECONDS);
    }

    /**
     * Asks the adaptive scheduler to run every vertex of {@code job} at parallelism 1, except
     * {@code vertex} at up to {@code upperBound}.
     */
    public void rescale(JobID job, JobVertexID vertex, int upperBound) throws Exception {
        JobResourceRequirements.Builder requirements = JobResourceRequirements.newBuilder();
        for (JobVertexID id : vertices(job)) {
            requirements.setParallelismForJobVertex(id, 1, id.equals(vertex) ? upperBound : 1);
        }
        String body =
                RestMapperUtils.getStrictObjectMapper()
                        .writeValueAsString(new JobResourceRequirementsBody(requirements.build()));
        URI uri = resource.getRestAddress().resolve("/jobs/" + job + "/resource-requirements");
        HttpResponse<String> response =
                HttpClient.newHttpClient()
                        .send(
                                HttpRequest.newBuilder(uri)
                                        .timeout(Duration.ofSeconds(30))
                                        .header("Content-Type", "application/json")
                                        .PUT(HttpRequest.BodyPublishers.ofString(body))
                                        .build(),
                                HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() / 100 != 2) {
            throw new AssertionError(
                    "PUT "
                            + uri
                            + " "
                            + body
                            + ": "
                            + response.statusCode()
                            + " "
                            + response.body());
        }
    }

    /**
     * Waits until the job is RUNNING with {@code vertex} at {@code parallelism}, failing with the
     * job's exception should it end first.
     */
    public void awaitRunningAt(JobID job, JobVertexID vertex, int parallelism, Duration timeout)
            throws Exception {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            JobStatus status = cluster().getJobStatus(job).get(30, TimeUnit.SECONDS);
            failIfEnded(job, status, "while waiting for parallelism " + parallelism);
            if (status == JobStatus.RUNNING && parallelism(job, vertex) == parallelism) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError(
                "not RUNNING at parallelism "
                        + parallelism
                        + " after "
                        + timeout
                        + ": "
                        + cluster().getJobStatus(job).get(30, TimeUnit.SECONDS)
                        + " at "
                        + parallelism(job, vertex)
                        + "; "
                        + failureInfo(job));
    }

    /**
     * Starts the counting job with {@code conf} and waits until two checkpoints completed and every
     * key was seen twice.
     */
    public JobID startCountingJob(Configuration conf) throws Exception {
        JobID job = CountingJob.start(cluster(), conf);
        CountingJob.awaitCompletedCheckpoints(cluster(), job, 2);
        CountingJob.awaitChecked(cluster(), job, 2L * CountingJob.KEYS);
        return job;
    }

    /** The job's status, asked for with a 30 s bound. */
    public JobStatus status(JobID job) throws Exception {
        return cluster().getJobStatus(job).get(30, TimeUnit.SECONDS);
    }

    /** How many checkpoints of the job have completed. */
    public long completedCheckpoints(JobID job) throws Exception {
        return CountingJob.stats(cluster(), job).getCounts().getNumberOfCompletedCheckpoints();
    }

    /** The one vertex of the job that runs at {@code parallelism}. */
    public JobVertexID vertexAt(JobID job, int parallelism) throws Exception {
        for (JobVertexID id : vertices(job)) {
            if (parallelism(job, id) == parallelism) {
                return id;
            }
        }
        throw new AssertionError(
                "no vertex at parallelism " + parallelism + " in " + vertices(job));
    }

    /**
     * Polls {@code condition} every 50 ms for at most {@code timeout}, failing with the job's error
     * as soon as the job ends.
     */
    public void awaitWhileRunning(
            JobID job, BooleanSupplier condition, String what, Duration timeout) throws Exception {
        awaitWhileRunning(job, condition, what, timeout, () -> "");
    }

    /**
     * As {@link #awaitWhileRunning(JobID, BooleanSupplier, String, Duration)}; {@code more} adds
     * the test's own facts to the timeout message.
     */
    public void awaitWhileRunning(
            JobID job,
            BooleanSupplier condition,
            String what,
            Duration timeout,
            Supplier<String> more)
            throws Exception {
        long end = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            failIfEnded(job, status(job), "while waiting for " + what);
            if (System.nanoTime() > end) {
                throw new AssertionError(
                        "timed out waiting for "
                                + what
                                + "; job "
                                + status(job)
                                + ", "
                                + failureInfo(job)
                                + more.get());
            }
            Thread.sleep(50);
        }
    }

    /**
     * Cancels the counting job, then restores its latest checkpoint in a new job and checks every
     * key's state ({@link CountingJob#verifyRestore}). {@code during} names the phase the job went
     * through, for the message should a record have been seen with a wrong count.
     */
    public void cancelAndVerifyLatest(JobID job, Configuration conf, String during)
            throws Exception {
        MiniCluster mini = cluster();
        CountingJob.cancel(mini, job);
        JobStatus ended = status(job);
        if (ended != JobStatus.CANCELED) {
            throw new AssertionError("job " + ended + " after its cancel: " + jobFailure(job));
        }
        // Read after the cancel: checkpoints completing meanwhile would subsume an earlier pick.
        String checkpoint = CountingJob.latestCheckpointPath(mini, job);
        long mismatches = CountingJob.MISMATCHES.get();
        if (mismatches != 0) {
            throw new AssertionError(mismatches + " records seen with a wrong count " + during);
        }
        CountingJob.verifyRestore(mini, conf, checkpoint, CountingJob.PAYLOAD_BYTES);
    }

    /** Throws, with the job's failure, when {@code status} is terminal. */
    public void failIfEnded(JobID job, JobStatus status, String when) throws Exception {
        if (status.isTerminalState()) {
            throw new AssertionError(
                    "job ended (" + status + ") " + when + ": " + jobFailure(job), failure(job));
        }
    }

    /** The job's failure as text ("none" when it has none), from its result. */
    public String jobFailure(JobID job) throws Exception {
        Throwable t = failure(job);
        return t == null ? "none" : ExceptionUtils.stringifyException(t);
    }

    private Throwable failure(JobID job) throws Exception {
        JobResult result = cluster().requestJobResult(job).get(30, TimeUnit.SECONDS);
        return result.getSerializedThrowable()
                .map(s -> s.deserializeError(getClass().getClassLoader()))
                .orElse(null);
    }

    /** The latest failure the running job's execution graph knows of, for messages. */
    public String failureInfo(JobID job) {
        try {
            var info = graph(job).getFailureInfo();
            return info == null ? "no failure recorded" : info.getExceptionAsString();
        } catch (Exception e) {
            return "failure info unavailable: " + e;
        }
    }

    /**
     * Waits for the job to end and returns its result, or throws {@link TimeoutException} when it
     * did not end within {@code timeout}.
     */
    public JobResult awaitEnd(JobID job, Duration timeout) throws Exception {
        return cluster().requestJobResult(job).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        resource.after();
    }
}
