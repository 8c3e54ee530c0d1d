package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.spill.StagedReaders;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.SupportsSpillAdoption;
import io.github.resilientcheckpoints.store.SupportsStreamingUpload;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.FileDescriptor;
import java.io.IOException;
import java.util.UUID;
import javax.annotation.Nullable;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How one state file's staged bytes reach the store, and the fallback when that way fails: the
 * spill file becomes the state file (a local target), or a {@link PipelinedUpload} sends it while
 * it is written; without either, or when it fails, the staged bytes go up whole with retries under
 * a fresh name. The writer thread calls everything but {@link #abort} and {@link #awaitAborted},
 * which may come from any thread.
 */
public final class StateFileUpload {

    private static final Logger LOG = LoggerFactory.getLogger(StateFileUpload.class);

    private final RetryingUploader uploader;
    private final UploadContext context;
    private final Path targetDirectory;
    private final UploadDeadline deadline;
    private final StagedReaders readers;

    /** The store's part uploads, when it has them: full parts of the spill file go up early. */
    @Nullable private final SupportsPartUploads partStore;

    /** Otherwise the store's following write, when it has one: the spill file is followed. */
    @Nullable private final SupportsStreamingUpload streamStore;

    /** The store's spill adoption (local target): the finished spill file becomes the file. */
    @Nullable private final SupportsSpillAdoption adoptionStore;

    /**
     * The state file the spill file is written as, in place in the target directory (decided when
     * it is placed); null when it is an ordinary spill file.
     */
    @Nullable private Path inPlaceTarget;

    /** The descriptor the stream writes the in-place spill file through, once it is created. */
    @Nullable private FileDescriptor inPlaceDescriptor;

    /** Set once the spill file is the state file: the stream must not delete it. */
    private volatile boolean adopted;

    /** The spill file holds only a prefix of the state (the rest stayed in memory). */
    private boolean partlyInMemory;

    /** No pipelined upload for this file (no permit was free, or the store could not start one). */
    private boolean pipelineOff;

    @Nullable private volatile PipelinedUpload pipeline;
    private volatile boolean aborted;

    /**
     * @param readers counts the upload requests reading the staged bytes, so that they stay
     *     reserved while a request the upload gave up on still reads them
     */
    public StateFileUpload(
            RetryingUploader uploader,
            Path targetDirectory,
            UploadDeadline deadline,
            StagedReaders readers) {
        this.uploader = uploader;
        this.context = uploader.context();
        this.targetDirectory = targetDirectory;
        this.deadline = deadline;
        this.readers = readers;
        CheckpointStore store = context.store();
        this.partStore = store.capability(SupportsPartUploads.class).orElse(null);
        this.streamStore =
                partStore != null
                        ? null
                        : store.capability(SupportsStreamingUpload.class).orElse(null);
        this.adoptionStore =
                partStore != null
                        ? null
                        : store.capability(SupportsSpillAdoption.class).orElse(null);
    }

    /**
     * Where the spill file goes when it can be the state file itself (a local target on the spill
     * directory's file system): under a new state file name in the target directory, where the
     * stream creates it; null for an ordinary spill file in {@code spillDirectory}.
     */
    @Nullable
    public java.nio.file.Path placeSpillFile(java.nio.file.Path spillDirectory) {
        // Not for task-owned state: its stream may stay open a whole checkpoint interval, and an
        // open file in taskowned/ that long could look like an orphan to the janitor.
        java.nio.file.Path directory =
                adoptionStore == null || deadline.nanos() == UploadDeadline.NOT_STARTED
                        ? null
                        : adoptionStore.adoptionDirectory(spillDirectory, targetDirectory);
        if (directory == null) {
            inPlaceTarget = null;
            return null;
        }
        Path target = newTarget();
        inPlaceTarget = target;
        return directory.resolve(target.getName());
    }

    /**
     * The stream created the spill file in place and writes it through {@code descriptor}, which
     * stays open until {@link #finish} (the adoption syncs through it, as Flink's stream syncs its
     * own file before closing it).
     */
    public void spillFileOpenedInPlace(FileDescriptor descriptor) {
        inPlaceDescriptor = descriptor;
    }

    /** The spill file could not be created in place: it is an ordinary spill file after all. */
    public void spillFileNotInPlace() {
        inPlaceTarget = null;
        inPlaceDescriptor = null;
    }

    /** Whether the spill file is being written as the state file, in place. */
    public boolean spillFileInPlace() {
        return inPlaceTarget != null;
    }

    /** Whether the spill file became the state file: it is Flink's now, not the stream's. */
    public boolean spillFileAdopted() {
        return adopted;
    }

    /**
     * The first {@code fileBytes} bytes of the spill file are written: full parts go, or the
     * following write reads on; starts the pipelined upload once the file is large enough and a
     * permit is free. Allocates nothing once started.
     */
    public void spilled(java.nio.file.Path file, long fileBytes) {
        if ((partStore == null && streamStore == null)
                || pipelineOff
                || partlyInMemory
                || inPlaceTarget != null) {
            return;
        }
        PipelinedUpload p = pipeline;
        if (p == null) {
            p = startPipeline(file, fileBytes);
            if (p == null) {
                return;
            }
        }
        p.advance(file, fileBytes);
    }

    /** The rest of the state stays in memory: the spill file alone is no longer the state. */
    public void restInMemory() {
        partlyInMemory = true;
        abortPipeline();
    }

    @Nullable
    private PipelinedUpload startPipeline(java.nio.file.Path file, long fileBytes) {
        if (deadline.nanos() == UploadDeadline.NOT_STARTED) {
            // Task-owned state: the stream may stay open a whole checkpoint interval; a pipelined
            // upload (parts or a following write) would hold an upload permit, a thread and the
            // store's pending upload all that time. It goes up whole at the end.
            pipelineOff = true;
            return null;
        }
        PipelinedUpload p;
        if (partStore != null) {
            if (fileBytes < Math.max(partStore.pipelineThreshold(), partStore.partSize())) {
                return null;
            }
            p = PipelinedUpload.tryStart(partStore, newTarget(), context, deadline, readers);
        } else {
            p =
                    PipelinedUpload.tryFollow(
                            streamStore, newTarget(), file, context, deadline, readers);
        }
        if (p == null) {
            pipelineOff = true;
            return null;
        }
        pipeline = p;
        if (aborted) {
            // abort() ran while the upload was started and could not see it.
            p.abort();
        }
        return p;
    }

    /**
     * Puts the staged bytes in the store: adopts the spill file, or completes the pipelined upload,
     * or, without either or when it fails, uploads {@code source} whole with retries.
     *
     * @param spillFile the spill file holding the first {@code spilledBytes} bytes, or null
     * @return where the bytes are, durable
     */
    public Path finish(
            UploadSource source,
            @Nullable java.nio.file.Path spillFile,
            long spilledBytes,
            UploadCancellation cancellation)
            throws IOException {
        boolean wholeFile = spillFile != null && !partlyInMemory;
        Path written =
                wholeFile && inPlaceTarget != null && inPlaceDescriptor != null
                        ? adopt(spillFile, inPlaceDescriptor, spilledBytes)
                        : null;
        PipelinedUpload p = pipeline;
        if (written == null && p != null && wholeFile) {
            written = p.complete(spillFile, spilledBytes, cancellation);
        }
        if (written == null) {
            written = uploader.upload(source, this::newTarget, deadline.nanos(), cancellation);
        }
        return written;
    }

    /** The finished spill file becomes the state file; null (upload it instead) when that fails. */
    @Nullable
    private Path adopt(java.nio.file.Path spillFile, FileDescriptor descriptor, long spilledBytes) {
        Path target = inPlaceTarget;
        try {
            Path written = adoptionStore.adopt(spillFile, descriptor, target);
            context.metrics().spillFileAdopted(spilledBytes);
            adopted = true;
            return written;
        } catch (IOException | RuntimeException e) {
            LOG.info(
                    "Could not make spill file {} durable as {} ({}); uploading it instead.",
                    spillFile,
                    target,
                    e.toString());
            return null;
        }
    }

    /** Deletes a finished upload nobody owns any more (its stream was discarded meanwhile). */
    public void discard(Path written) {
        context.discard(written);
    }

    /** Ends the pipelined upload, if any, giving its permit back; idempotent, any thread. */
    public void abort() {
        aborted = true;
        abortPipeline();
    }

    private void abortPipeline() {
        PipelinedUpload p = pipeline;
        if (p != null) {
            p.abort();
        }
    }

    /**
     * Waits, at most {@code timeoutNanos}, until an aborted pipelined upload has deleted what it
     * wrote (see {@link PipelinedUpload#awaitAborted}).
     */
    public void awaitAborted(long timeoutNanos) {
        PipelinedUpload p = pipeline;
        if (p != null) {
            p.awaitAborted(timeoutNanos);
        }
    }

    private Path newTarget() {
        return new Path(targetDirectory, UUID.randomUUID().toString());
    }
}
