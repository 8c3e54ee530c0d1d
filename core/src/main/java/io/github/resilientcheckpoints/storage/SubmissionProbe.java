package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.CheckpointUploadException;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.UploadCancellation;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.filesystem.AbstractFsCheckpointStorageAccess;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The JobManager's check, when it sets up the checkpoint storage of a newly submitted job, that the
 * store takes writes under the checkpoint root: one small file is uploaded through the job's {@link
 * CheckpointStore} (so an S3 root gets its bucket checked and a real PutObject, HDFS a real create
 * + rename) and deleted again, with the storage's retry policy but within {@code probe-timeout} (30
 * s by default). If either fails, the job is refused with the store's own message — Flink fails it
 * at submission (its checkpoint coordinator cannot be built) instead of letting it run and fail
 * every checkpoint.
 *
 * <p>Only a submission is probed. Flink sets up the storage again on every restart and rescale
 * under the adaptive scheduler and on every JobManager failover; the runtime remembers the jobs it
 * has set up (restarts, rescales), and with high availability {@link #probeFirstStart} tells a
 * failover from a submission by the job's directory. A job that is running must never be refused
 * because the store is in trouble at that moment.
 *
 * <p>The probe goes to the job's {@code taskowned/} directory, where cleanup removes it as an
 * orphan should the delete ever be lost.
 */
final class SubmissionProbe {

    static final String FILE_PREFIX = "_submission-probe-";

    private static final Logger LOG = LoggerFactory.getLogger(SubmissionProbe.class);
    private static final byte[] CONTENT =
            "Resilient Checkpoint Storage: submission probe, deleted right after it was written\n"
                    .getBytes(StandardCharsets.UTF_8);

    private final CheckpointStore store;
    private final RetryPolicy policy;
    private final Executor attemptExecutor;
    private final Ticker ticker;
    private final Redactor redactor;
    private final long budgetNanos;

    /**
     * @param budgetNanos longest the probe may take, retries included ({@code probe-timeout}): a
     *     submission should not hang on a dead store. Not the checkpoints' upload budget: the probe
     *     is not a checkpoint, and a healthy store's first write on a busy JobManager may take
     *     longer than a short checkpoint timeout.
     */
    SubmissionProbe(
            CheckpointStore store,
            RetryPolicy policy,
            Executor attemptExecutor,
            Ticker ticker,
            Redactor redactor,
            long budgetNanos) {
        this.store = store;
        this.policy = policy;
        this.attemptExecutor = attemptExecutor;
        this.ticker = ticker;
        this.redactor = redactor;
        this.budgetNanos = budgetNanos;
    }

    /** Longest the check for an existing job directory may take (high availability only). */
    static final Duration EXISTENCE_CHECK_BOUND = Duration.ofSeconds(10);

    /**
     * The probe of a job's first start in this JVM. Without high availability that is its
     * submission: a failed probe refuses it. With high availability it may also be a JobManager
     * failover recovering a running job, which must never be refused: the job is refused only when
     * its directory is known not to exist yet (a submission); when the directory exists, nothing is
     * probed; when that cannot be told (the store does not answer), a failed probe is only logged.
     */
    /**
     * @return true when this is known or taken to be a recovery, not a submission
     */
    boolean probeFirstStart(Path jobDirectory, boolean highAvailability) throws IOException {
        if (!highAvailability) {
            probe(jobDirectory);
            return false;
        }
        Boolean exists = jobDirectoryExists(jobDirectory);
        if (Boolean.TRUE.equals(exists)) {
            LOG.info(
                    "Checkpoint storage of {} set up again (JobManager failover or a reused job id):"
                            + " the submission probe is skipped.",
                    redactor.redact(jobDirectory.toString()));
            return true;
        }
        if (exists == null) {
            try {
                probe(jobDirectory);
            } catch (IOException e) {
                if (Thread.currentThread().isInterrupted()) {
                    throw e;
                }
                LOG.warn(
                        "Submission probe failed, but whether {} is a new job or one recovered by a"
                                + " new JobManager could not be told, so it is not refused: {}",
                        redactor.redact(jobDirectory.toString()),
                        e.getMessage());
            }
            return true;
        }
        probe(jobDirectory);
        return false;
    }

    /** Whether the job's directory exists; null when the store did not tell in time. */
    private Boolean jobDirectoryExists(Path jobDirectory) throws InterruptedIOException {
        CompletableFuture<Boolean> answer = new CompletableFuture<>();
        try {
            attemptExecutor.execute(
                    () -> {
                        try {
                            answer.complete(
                                    FileSystem.getUnguardedFileSystem(jobDirectory.toUri())
                                            .exists(jobDirectory));
                        } catch (Throwable t) {
                            answer.completeExceptionally(t);
                        }
                    });
            long bound = Math.min(EXISTENCE_CHECK_BOUND.toNanos(), budgetNanos);
            return answer.get(bound, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while probing the checkpoint root");
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            LOG.info(
                    "Could not tell whether {} exists: {}",
                    redactor.redact(jobDirectory.toString()),
                    redactor.describe(e instanceof ExecutionException ? e.getCause() : e));
            return null;
        }
    }

    /**
     * Writes and deletes one probe file under {@code jobDirectory}, or throws why the job is
     * refused.
     */
    void probe(Path jobDirectory) throws IOException {
        long start = ticker.nanoTime();
        long deadline = start + budgetNanos;
        Path directory =
                new Path(
                        jobDirectory,
                        AbstractFsCheckpointStorageAccess.CHECKPOINT_TASK_OWNED_STATE_DIR);
        // Counters of its own: the probe is not checkpoint state and must not show in the upload
        // metrics.
        RetryingUploader uploader =
                new RetryingUploader(
                        store,
                        policy,
                        attemptExecutor,
                        ticker,
                        RetryingUploader.threadLocalRandom(),
                        new StorageMetrics(),
                        redactor);
        Path written;
        try {
            written =
                    uploader.upload(
                            UploadSource.of(CONTENT),
                            () -> new Path(directory, FILE_PREFIX + UUID.randomUUID()),
                            deadline,
                            new UploadCancellation());
        } catch (InterruptedIOException e) {
            throw e;
        } catch (IOException e) {
            throw refused(
                    "could not write a probe file under '"
                            + redactor.redact(directory.toString())
                            + "'",
                    e instanceof CheckpointUploadException out
                                    && out.reason() == RetryPolicy.GiveUpReason.DEADLINE
                            ? outOfTime(out)
                            : e.getMessage(),
                    e);
        }
        delete(written, deadline);
        LOG.info(
                "Checkpoint root probed at submission: wrote and deleted {} through the {} store in {} ms.",
                redactor.redact(written.toString()),
                store.name(),
                TimeUnit.NANOSECONDS.toMillis(ticker.nanoTime() - start));
    }

    private void delete(Path file, long deadline) throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                store.delete(file);
                return;
            } catch (IOException e) {
                // A socket or connect timeout is an InterruptedIOException too: only this thread's
                // interrupt is a cancellation.
                if (Thread.currentThread().isInterrupted()) {
                    throw e;
                }
                RetryPolicy.Decision next =
                        policy.onFailure(
                                attempt,
                                store.classify(e),
                                ticker.nanoTime(),
                                deadline,
                                () -> ThreadLocalRandom.current().nextDouble());
                if (!next.retry()) {
                    throw refused(
                            "wrote a probe file but could not delete it ('"
                                    + redactor.redact(file.toString())
                                    + "', after "
                                    + attempt
                                    + " attempt(s);"
                                    + " Flink must be able to delete old checkpoints)",
                            "The store answered: " + redactor.describe(e) + ".",
                            e);
                }
                try {
                    TimeUnit.NANOSECONDS.sleep(next.delayNanos());
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException(
                            "interrupted while probing the checkpoint root");
                }
            }
        }
    }

    /**
     * The uploader names the checkpoint deadline's keys; the probe's time is its own key. The cause
     * is the last attempt's failure (null when none could start).
     */
    private String outOfTime(CheckpointUploadException e) {
        return "No write succeeded within '"
                + ResilientCheckpointOptions.PROBE_TIMEOUT.key()
                + "' ("
                + TimeUnit.NANOSECONDS.toMillis(budgetNanos)
                + " ms, "
                + e.attempts()
                + " attempt(s)). Last failure ("
                + e.failureClass()
                + "): "
                + (e.getCause() == null
                        ? "no attempt could start"
                        : redactor.describe(e.getCause()))
                + ".";
    }

    /**
     * {@code detail} is already redacted: the uploader's message, or the store's answer described.
     */
    private static IOException refused(String what, String detail, IOException cause) {
        return new IOException(
                "Job refused: Resilient Checkpoint Storage "
                        + what
                        + ", so every checkpoint of this job would fail. "
                        + detail
                        + " Fix the checkpoint directory ('"
                        + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                        + "') or the store's access, or set '"
                        + ResilientCheckpointOptions.PROBE_AT_SUBMISSION.key()
                        + ": false' to skip this check.",
                cause);
    }
}
