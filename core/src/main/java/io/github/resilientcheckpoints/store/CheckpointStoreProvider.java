package io.github.resilientcheckpoints.store;

import java.io.IOException;
import java.net.URI;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;

/**
 * Creates a {@link CheckpointStore} for the URI schemes it serves. Found with {@link
 * java.util.ServiceLoader} (file {@code
 * META-INF/services/io.github.resilientcheckpoints.store.CheckpointStoreProvider}); when no
 * provider serves a scheme, the generic {@link FlinkFileSystemStore} is used.
 */
public interface CheckpointStoreProvider {

    /** Whether this provider serves the (lower-case) scheme, e.g. {@code "s3"}. */
    boolean supportsScheme(String scheme);

    /**
     * Priority among providers serving the same scheme; the highest wins. The generic store has
     * none: it is only the fallback.
     */
    default int priority() {
        return 0;
    }

    /**
     * Checks this provider's keys in {@code config} without creating anything; called where the
     * storage is built from the configuration (on the JobManager, at job submission), so a bad
     * value fails the submission instead of every checkpoint later. Messages name the key and the
     * fix, never a secret value.
     */
    default void validate(ReadableConfig config) throws IllegalConfigurationException {}

    /** Creates a store for checkpoint directories under {@code checkpointRoot}. */
    CheckpointStore create(URI checkpointRoot, ReadableConfig config) throws IOException;
}
