package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.util.Optional;
import org.apache.flink.core.fs.Path;

/**
 * A real store behind a test's override: every call goes to {@link #real} unless the subclass
 * replaces it (one operation, one capability), so what the test does not change stays real.
 */
public abstract class ForwardingStore implements CheckpointStore {

    protected final CheckpointStore real;

    protected ForwardingStore(CheckpointStore real) {
        this.real = real;
    }

    @Override
    public Path upload(UploadSource source, Path target) throws IOException {
        return real.upload(source, target);
    }

    @Override
    public Path resolveTarget(Path target) throws IOException {
        return real.resolveTarget(target);
    }

    @Override
    public void delete(Path path) throws IOException {
        real.delete(path);
    }

    @Override
    public FailureClass classify(Throwable failure) {
        return real.classify(failure);
    }

    /** A capability the subclass implements itself is its own; any other is the real store's. */
    @Override
    public <T> Optional<T> capability(Class<T> type) {
        return type.isInstance(this) ? Optional.of(type.cast(this)) : real.capability(type);
    }

    @Override
    public String name() {
        return "test-" + real.name();
    }

    @Override
    public void close() throws IOException {
        real.close();
    }
}
