package io.github.resilientcheckpoints.store;

import java.io.FileDescriptor;
import java.io.IOException;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import javax.annotation.Nullable;
import org.apache.flink.annotation.VisibleForTesting;
import org.apache.flink.core.fs.Path;

/**
 * A drill wrapper: fails a share of upload attempts with a transient error or a throttle signal
 * before they reach the real store (keys {@code
 * execution.checkpointing.resilient.fault-injection.*}). It lets an operator, and the demo, watch
 * retries absorb store faults without breaking anything.
 *
 * <p>Every capability of the wrapped store stays visible through {@link #capability}: part uploads,
 * following writes and spill adoptions go through the drill too (a failed start makes the stream
 * fall back to a whole-file upload), the others (listing, deletes, pending uploads, throttle
 * signals, request events) are the wrapped store's own.
 */
public final class FaultInjectingStore implements CheckpointStore {

    private final CheckpointStore delegate;
    private final double transientRatio;
    private final double throttledRatio;
    private final AtomicLong injected = new AtomicLong();

    public FaultInjectingStore(
            CheckpointStore delegate, double transientRatio, double throttledRatio) {
        if (transientRatio < 0 || throttledRatio < 0 || transientRatio + throttledRatio >= 1) {
            throw new IllegalArgumentException(
                    "failure ratios must be >= 0 and sum to less than 1: "
                            + transientRatio
                            + ", "
                            + throttledRatio);
        }
        this.delegate = delegate;
        this.transientRatio = transientRatio;
        this.throttledRatio = throttledRatio;
    }

    /** The wrapped store's path rewriting (entropy) stays in force under the drill. */
    @Override
    public Path resolveTarget(Path target) throws IOException {
        return delegate.resolveTarget(target);
    }

    @Override
    public Path upload(UploadSource source, Path target) throws IOException {
        maybeFail(target);
        return delegate.upload(source, target);
    }

    private void maybeFail(Path target) throws InjectedFaultException {
        double draw = ThreadLocalRandom.current().nextDouble();
        if (draw < transientRatio) {
            injected.incrementAndGet();
            throw new InjectedFaultException(
                    "injected transient fault (drill) for " + target, FailureClass.TRANSIENT);
        }
        if (draw < transientRatio + throttledRatio) {
            injected.incrementAndGet();
            throw new InjectedFaultException(
                    "injected 503 SlowDown (drill) for " + target, FailureClass.THROTTLED);
        }
    }

    @Override
    public <T> Optional<T> capability(Class<T> type) {
        if (type == SupportsPartUploads.class) {
            return delegate.capability(SupportsPartUploads.class)
                    .map(parts -> type.cast(new FaultyPartUploads(parts)));
        }
        if (type == SupportsStreamingUpload.class) {
            return delegate.capability(SupportsStreamingUpload.class)
                    .map(
                            following ->
                                    type.cast(
                                            (SupportsStreamingUpload)
                                                    target -> {
                                                        maybeFail(target);
                                                        return following.startStreamingUpload(
                                                                target);
                                                    }));
        }
        if (type == SupportsSpillAdoption.class) {
            return delegate.capability(SupportsSpillAdoption.class)
                    .map(adoption -> type.cast(new FaultyAdoption(adoption)));
        }
        if (type == SupportsExclusiveCreate.class) {
            return delegate.capability(SupportsExclusiveCreate.class)
                    .map(
                            exclusive ->
                                    type.cast(
                                            (SupportsExclusiveCreate)
                                                    (source, target) -> {
                                                        maybeFail(target);
                                                        exclusive.createExclusive(source, target);
                                                    }));
        }
        return delegate.capability(type);
    }

    /** The wrapped store's spill adoption, with the drill in front: a failed one is resent. */
    private final class FaultyAdoption implements SupportsSpillAdoption {
        private final SupportsSpillAdoption adoption;

        FaultyAdoption(SupportsSpillAdoption adoption) {
            this.adoption = adoption;
        }

        @Override
        @Nullable
        public java.nio.file.Path adoptionDirectory(
                java.nio.file.Path spillDirectory, Path targetDirectory) {
            return adoption.adoptionDirectory(spillDirectory, targetDirectory);
        }

        @Override
        public Path adopt(java.nio.file.Path file, FileDescriptor descriptor, Path target)
                throws IOException {
            maybeFail(target);
            return adoption.adopt(file, descriptor, target);
        }
    }

    /** The wrapped store's part uploads, with the drill in front of each start. */
    private final class FaultyPartUploads implements SupportsPartUploads {
        private final SupportsPartUploads parts;

        FaultyPartUploads(SupportsPartUploads parts) {
            this.parts = parts;
        }

        @Override
        public long partSize() {
            return parts.partSize();
        }

        @Override
        public long pipelineThreshold() {
            return parts.pipelineThreshold();
        }

        @Override
        public PartUpload startPartUpload(Path target) throws IOException {
            maybeFail(target);
            return parts.startPartUpload(target);
        }
    }

    @Override
    public void delete(Path path) throws IOException {
        delegate.delete(path);
    }

    @Override
    public FailureClass classify(Throwable failure) {
        return failure instanceof InjectedFaultException
                ? ((InjectedFaultException) failure).failureClass
                : delegate.classify(failure);
    }

    @Override
    public String name() {
        return delegate.name() + "+faults";
    }

    /** Number of faults injected so far. */
    @VisibleForTesting
    long injectedFaults() {
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
