package io.github.resilientcheckpoints.metrics;

import io.github.resilientcheckpoints.store.FailureClass;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * The counters of one upload runtime (normally one per TaskManager JVM). Updated without locks from
 * upload and task threads; read by the JMX bean and by whatever bridges them into Flink's metrics.
 */
public final class StorageMetrics {

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
    private final EnumMap<FailureClass, LongAdder> failuresByClass = new EnumMap<>(FailureClass.class);

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
     * Flink metric bridge both publish, and the README documents.
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
        return m;
    }
}
