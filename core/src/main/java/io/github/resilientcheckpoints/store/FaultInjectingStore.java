package io.github.resilientcheckpoints.store;

import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A drill wrapper: fails a share of upload attempts with a transient error before they reach the
 * real store (key {@code execution.checkpointing.resilient.fault-injection.transient-failure-ratio}).
 * It lets an operator, and the demo, watch retries absorb store faults without breaking anything.
 */
public final class FaultInjectingStore implements CheckpointStore {

    private final CheckpointStore delegate;
    private final double failureRatio;
    private final AtomicLong injected = new AtomicLong();

    public FaultInjectingStore(CheckpointStore delegate, double failureRatio) {
        if (failureRatio < 0 || failureRatio >= 1) {
            throw new IllegalArgumentException("failure ratio must be in [0, 1): " + failureRatio);
        }
        this.delegate = delegate;
        this.failureRatio = failureRatio;
    }

    @Override
    public Path upload(UploadSource source, Path target) throws IOException {
        if (ThreadLocalRandom.current().nextDouble() < failureRatio) {
            injected.incrementAndGet();
            throw new InjectedFaultException("injected transient fault (drill) for " + target);
        }
        return delegate.upload(source, target);
    }

    @Override
    public void delete(Path path) throws IOException {
        delegate.delete(path);
    }

    @Override
    public FailureClass classify(Throwable failure) {
        return failure instanceof InjectedFaultException ? FailureClass.TRANSIENT : delegate.classify(failure);
    }

    @Override
    public String name() {
        return delegate.name() + "+faults";
    }

    /** Number of faults injected so far. */
    public long injectedFaults() {
        return injected.get();
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }

    /** The error an injected fault raises. */
    public static final class InjectedFaultException extends IOException {
        private static final long serialVersionUID = 1L;

        InjectedFaultException(String message) {
            super(message);
        }
    }
}
