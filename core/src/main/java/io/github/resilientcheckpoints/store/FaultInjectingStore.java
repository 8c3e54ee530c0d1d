package io.github.resilientcheckpoints.store;

import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A drill wrapper: fails a share of upload attempts with a transient error or a throttle signal
 * before they reach the real store (keys {@code
 * execution.checkpointing.resilient.fault-injection.*}).
 * It lets an operator, and the demo, watch retries absorb store faults without breaking anything.
 */
public final class FaultInjectingStore implements CheckpointStore {

    private final CheckpointStore delegate;
    private final double transientRatio;
    private final double throttledRatio;
    private final AtomicLong injected = new AtomicLong();

    public FaultInjectingStore(CheckpointStore delegate, double transientRatio, double throttledRatio) {
        if (transientRatio < 0 || throttledRatio < 0 || transientRatio + throttledRatio >= 1) {
            throw new IllegalArgumentException(
                    "failure ratios must be >= 0 and sum to less than 1: " + transientRatio + ", " + throttledRatio);
        }
        this.delegate = delegate;
        this.transientRatio = transientRatio;
        this.throttledRatio = throttledRatio;
    }

    @Override
    public Path upload(UploadSource source, Path target) throws IOException {
        double draw = ThreadLocalRandom.current().nextDouble();
        if (draw < transientRatio) {
            injected.incrementAndGet();
            throw new InjectedFaultException("injected transient fault (drill) for " + target, FailureClass.TRANSIENT);
        }
        if (draw < transientRatio + throttledRatio) {
            injected.incrementAndGet();
            throw new InjectedFaultException("injected 503 SlowDown (drill) for " + target, FailureClass.THROTTLED);
        }
        return delegate.upload(source, target);
    }

    @Override
    public void delete(Path path) throws IOException {
        delegate.delete(path);
    }

    @Override
    public FailureClass classify(Throwable failure) {
        return failure instanceof InjectedFaultException
                ? ((InjectedFaultException) failure).failureClass : delegate.classify(failure);
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
        private final FailureClass failureClass;

        InjectedFaultException(String message, FailureClass failureClass) {
            super(message);
            this.failureClass = failureClass;
        }
    }
}
