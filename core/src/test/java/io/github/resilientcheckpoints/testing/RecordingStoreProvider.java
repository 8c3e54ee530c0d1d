package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStoreProvider;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.UploadSource;
import java.net.URI;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.fs.Path;

/**
 * Serves the scheme {@value #SCHEME} (registered in src/test/resources/META-INF/services) with
 * stores that remember the configuration they were created with and whether they were closed.
 * Uploads are not supported: runtime tests only look at which store they get.
 */
public final class RecordingStoreProvider implements CheckpointStoreProvider {

    public static final String SCHEME = "rcs-recording";

    @Override
    public boolean supportsScheme(String scheme) {
        return SCHEME.equals(scheme);
    }

    @Override
    public CheckpointStore create(URI checkpointRoot, ReadableConfig config) {
        return new RecordingStore(checkpointRoot, config.toMap());
    }

    /** A store that records how it was made and whether it was closed. */
    public static final class RecordingStore implements CheckpointStore {
        public final URI root;
        public final Map<String, String> config;
        public final AtomicBoolean closed = new AtomicBoolean();

        RecordingStore(URI root, Map<String, String> config) {
            this.root = root;
            this.config = Map.copyOf(config);
        }

        @Override
        public Path upload(UploadSource source, Path target) {
            throw new UnsupportedOperationException("runtime tests do not upload");
        }

        @Override
        public void delete(Path path) {}

        @Override
        public FailureClass classify(Throwable failure) {
            return FailureClass.PERMANENT;
        }

        @Override
        public String name() {
            return "recording";
        }

        @Override
        public void close() {
            closed.set(true);
        }
    }
}
