package io.github.resilientcheckpoints.metrics;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.StoreRequestListener;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * The counters of one upload runtime (normally one per TaskManager JVM). Updated without locks from
 * upload and task threads; read by the JMX bean and by whatever bridges them into Flink's metrics.
 *
 * <p>It is also the {@link StoreRequestListener} of the runtime's stores: the requests a store sent
 * and resent on its own (S3 parts, batched deletes) are counted here too, whichever store sent
 * them.
 */
public final class StorageMetrics implements StoreRequestListener {

    private final LongAdder uploadsStarted = new LongAdder();
    private final LongAdder uploadsSucceeded = new LongAdder();
    private final LongAdder uploadsFailed = new LongAdder();
    private final LongAdder uploadsCancelled = new LongAdder();
    private final LongAdder attempts = new LongAdder();
    private final LongAdder retries = new LongAdder();
    private final LongAdder attemptTimeouts = new LongAdder();
    private final LongAdder deadlineExceeded = new LongAdder();
    private final LongAdder bytesUploaded = new LongAdder();
    private final LongAdder inlineHandles = new LongAdder();
    private final LongAdder spillFiles = new LongAdder();
    private final LongAdder spillBytes = new LongAdder();
    private final LongAdder fallbackNoSpace = new LongAdder();
    private final LongAdder fallbackWriteFailed = new LongAdder();
    private final LongAdder spillFailures = new LongAdder();
    private final LongAdder memoryFallbackBytes = new LongAdder();
    private final LongAdder pipelinedUploads = new LongAdder();
    private final LongAdder spillFilesAdopted = new LongAdder();
    private final LongAdder cleanupSweeps = new LongAdder();
    private final LongAdder cleanupFilesDeleted = new LongAdder();
    private final LongAdder cleanupBytesDeleted = new LongAdder();
    private final LongAdder cleanupErrors = new LongAdder();
    private final LongAdder pipelineFallbacks = new LongAdder();
    private final LongAdder metadataWrites = new LongAdder();
    private final LongAdder metadataRetries = new LongAdder();
    private final LongAdder metadataWriteFailures = new LongAdder();
    private final LongAdder directoryCreates = new LongAdder();
    private final LongAdder directoryCreateRetries = new LongAdder();
    private final LongAdder directoryCreateFailures = new LongAdder();
    private final LongAdder locationDeletes = new LongAdder();
    private final LongAdder locationDeleteRetries = new LongAdder();
    private final LongAdder locationDeleteFailures = new LongAdder();
    private final LongAdder storeDataRequests = new LongAdder();
    private final LongAdder storeDataRequestRetries = new LongAdder();
    private final LongAdder storeDeleteRequests = new LongAdder();
    private final LongAdder storeOtherRequestRetries = new LongAdder();
    private final LongAdder storeThrottledResponses = new LongAdder();
    private final EnumMap<FailureClass, LongAdder> failuresByClass =
            new EnumMap<>(FailureClass.class);
    private final Map<String, LongSupplier> gauges = new ConcurrentSkipListMap<>();

    public StorageMetrics() {
        for (FailureClass c : FailureClass.values()) {
            failuresByClass.put(c, new LongAdder());
        }
    }

    public void uploadStarted() {
        uploadsStarted.increment();
    }

    public void attemptStarted(int attemptNumber) {
        attempts.increment();
        if (attemptNumber > 1) {
            retries.increment();
        }
    }

    public void attemptFailed(FailureClass failureClass, boolean timedOut) {
        failuresByClass.get(failureClass).increment();
        if (timedOut) {
            attemptTimeouts.increment();
        }
    }

    public void uploadSucceeded(long bytes) {
        uploadsSucceeded.increment();
        bytesUploaded.add(bytes);
    }

    public void uploadFailed(boolean deadline) {
        uploadsFailed.increment();
        if (deadline) {
            deadlineExceeded.increment();
        }
    }

    /** JobManager: an attempt to write a checkpoint's {@code _metadata} started (1-based). */
    public void metadataAttemptStarted(int attemptNumber) {
        if (attemptNumber > 1) {
            metadataRetries.increment();
        }
    }

    /** JobManager: a {@code _metadata} was written (durable). */
    public void metadataWritten() {
        metadataWrites.increment();
    }

    /** JobManager: writing a {@code _metadata} failed for good (the checkpoint fails). */
    public void metadataWriteFailed() {
        metadataWriteFailures.increment();
    }

    /** JobManager: an attempt to create a checkpoint or savepoint directory started (1-based). */
    public void directoryCreateAttemptStarted(int attemptNumber) {
        if (attemptNumber > 1) {
            directoryCreateRetries.increment();
        }
    }

    /** JobManager: a checkpoint or savepoint directory was created. */
    public void directoryCreated() {
        directoryCreates.increment();
    }

    /**
     * JobManager: creating a checkpoint or savepoint directory failed for good (the checkpoint
     * fails).
     */
    public void directoryCreateFailed() {
        directoryCreateFailures.increment();
    }

    /**
     * JobManager: an attempt to delete an aborted or discarded checkpoint location started
     * (1-based).
     */
    public void locationDeleteAttemptStarted(int attemptNumber) {
        if (attemptNumber > 1) {
            locationDeleteRetries.increment();
        }
    }

    /** JobManager: an aborted or discarded checkpoint location was deleted. */
    public void locationDeleted() {
        locationDeletes.increment();
    }

    /** JobManager: deleting a checkpoint location failed for good (left for cleanup). */
    public void locationDeleteFailed() {
        locationDeleteFailures.increment();
    }

    @Override
    public void dataRequestSent() {
        storeDataRequests.increment();
    }

    @Override
    public void dataRequestRetried() {
        storeDataRequestRetries.increment();
    }

    @Override
    public void deleteRequestSent() {
        storeDeleteRequests.increment();
    }

    @Override
    public void otherRequestRetried() {
        storeOtherRequestRetries.increment();
    }

    @Override
    public void throttledResponse() {
        storeThrottledResponses.increment();
    }

    public long directoryCreates() {
        return directoryCreates.sum();
    }

    public long directoryCreateRetries() {
        return directoryCreateRetries.sum();
    }

    public long directoryCreateFailures() {
        return directoryCreateFailures.sum();
    }

    public long locationDeletes() {
        return locationDeletes.sum();
    }

    public long locationDeleteRetries() {
        return locationDeleteRetries.sum();
    }

    public long locationDeleteFailures() {
        return locationDeleteFailures.sum();
    }

    public long metadataWrites() {
        return metadataWrites.sum();
    }

    public long metadataRetries() {
        return metadataRetries.sum();
    }

    public long metadataWriteFailures() {
        return metadataWriteFailures.sum();
    }

    public void uploadCancelled() {
        uploadsCancelled.increment();
    }

    public void inlineHandle() {
        inlineHandles.increment();
    }

    public void spillFileCreated() {
        spillFiles.increment();
    }

    public void spilled(long bytes) {
        spillBytes.add(bytes);
    }

    /** A stream found no directory with room (or the quota reached) and fell back to memory. */
    public void fallbackNoSpace() {
        fallbackNoSpace.increment();
    }

    /** Writing a spill file failed (e.g. the disk filled up) and the stream fell back to memory. */
    public void fallbackWriteFailed() {
        fallbackWriteFailed.increment();
    }

    /** A stream could not stage its data anywhere (policy 'fail' or memory budget exhausted). */
    public void spillFailed() {
        spillFailures.increment();
    }

    /** A state file went up in parts while it was being written. */
    public void pipelinedUpload() {
        pipelinedUploads.increment();
    }

    /** A part upload failed and the whole file was uploaded the ordinary way instead. */
    /** A spill file became the state file (local target, same file system): no copy. */
    public void spillFileAdopted(long bytes) {
        uploadsStarted.increment();
        uploadsSucceeded.increment();
        bytesUploaded.add(bytes);
        spillFilesAdopted.increment();
    }

    public long spillFilesAdopted() {
        return spillFilesAdopted.sum();
    }

    public void pipelineFallback() {
        pipelineFallbacks.increment();
    }

    /** One sweep ended: files and bytes deleted, jobs whose sweep stopped. */
    public void sweep(long filesDeleted, long bytesDeleted, long errors) {
        cleanupSweeps.increment();
        cleanupFilesDeleted.add(filesDeleted);
        cleanupBytesDeleted.add(bytesDeleted);
        cleanupErrors.add(errors);
    }

    public long cleanupFilesDeleted() {
        return cleanupFilesDeleted.sum();
    }

    public long pipelinedUploads() {
        return pipelinedUploads.sum();
    }

    public long pipelineFallbacks() {
        return pipelineFallbacks.sum();
    }

    public void memoryFallback(long bytes) {
        memoryFallbackBytes.add(bytes);
    }

    /** Adds a gauge (e.g. free bytes of a spill directory) to the published values. */
    public void registerGauge(String name, LongSupplier gauge) {
        gauges.put(name, gauge);
    }

    public long fallbacks() {
        return fallbackNoSpace.sum() + fallbackWriteFailed.sum();
    }

    public long uploadsStarted() {
        return uploadsStarted.sum();
    }

    public long uploadsSucceeded() {
        return uploadsSucceeded.sum();
    }

    public long uploadsFailed() {
        return uploadsFailed.sum();
    }

    public long retries() {
        return retries.sum();
    }

    public long attempts() {
        return attempts.sum();
    }

    public long failures(FailureClass failureClass) {
        return failuresByClass.get(failureClass).sum();
    }

    public long bytesUploaded() {
        return bytesUploaded.sum();
    }

    public long spillBytes() {
        return spillBytes.sum();
    }

    /**
     * Every counter by its metric name, in a stable order: the single list the JMX bean and the
     * Flink metric bridge both publish, and docs/metrics.md documents.
     */
    public Map<String, Long> snapshot() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("uploadsStarted", uploadsStarted.sum());
        m.put("uploadsSucceeded", uploadsSucceeded.sum());
        m.put("uploadsFailed", uploadsFailed.sum());
        m.put("uploadsCancelled", uploadsCancelled.sum());
        m.put("uploadAttempts", attempts.sum());
        m.put("uploadRetries", retries.sum());
        m.put("attemptTimeouts", attemptTimeouts.sum());
        m.put("deadlineExceeded", deadlineExceeded.sum());
        m.put("bytesUploaded", bytesUploaded.sum());
        m.put("failuresThrottled", failuresByClass.get(FailureClass.THROTTLED).sum());
        m.put("failuresTransient", failuresByClass.get(FailureClass.TRANSIENT).sum());
        m.put("failuresPermanent", failuresByClass.get(FailureClass.PERMANENT).sum());
        m.put("inlineHandles", inlineHandles.sum());
        m.put("spillFiles", spillFiles.sum());
        m.put("spillBytes", spillBytes.sum());
        m.put("spillFallbacksNoSpace", fallbackNoSpace.sum());
        m.put("spillFallbacksWriteFailed", fallbackWriteFailed.sum());
        m.put("spillFailures", spillFailures.sum());
        m.put("memoryFallbackBytes", memoryFallbackBytes.sum());
        m.put("pipelinedUploads", pipelinedUploads.sum());
        m.put("pipelineFallbacks", pipelineFallbacks.sum());
        m.put("spillFilesAdopted", spillFilesAdopted.sum());
        m.put("cleanupSweeps", cleanupSweeps.sum());
        m.put("cleanupFilesDeleted", cleanupFilesDeleted.sum());
        m.put("cleanupBytesDeleted", cleanupBytesDeleted.sum());
        m.put("cleanupErrors", cleanupErrors.sum());
        m.put("metadataWrites", metadataWrites.sum());
        m.put("metadataRetries", metadataRetries.sum());
        m.put("metadataWriteFailures", metadataWriteFailures.sum());
        m.put("directoryCreates", directoryCreates.sum());
        m.put("directoryCreateRetries", directoryCreateRetries.sum());
        m.put("directoryCreateFailures", directoryCreateFailures.sum());
        m.put("locationDeletes", locationDeletes.sum());
        m.put("locationDeleteRetries", locationDeleteRetries.sum());
        m.put("locationDeleteFailures", locationDeleteFailures.sum());
        m.put("storeDataRequests", storeDataRequests.sum());
        m.put("storeDataRequestRetries", storeDataRequestRetries.sum());
        m.put("storeOtherRequestRetries", storeOtherRequestRetries.sum());
        m.put("storeDeleteRequests", storeDeleteRequests.sum());
        m.put("storeThrottledResponses", storeThrottledResponses.sum());
        gauges.forEach((name, gauge) -> m.put(name, gauge.getAsLong()));
        return m;
    }
}
