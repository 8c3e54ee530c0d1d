package io.github.resilientcheckpoints.store;

import java.io.IOException;
import java.net.URI;
import java.util.List;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;

/**
 * Creates a {@link CheckpointStore} for the URI schemes it serves. Found with {@link
 * java.util.ServiceLoader} (file {@code
 * META-INF/services/io.github.resilientcheckpoints.store.CheckpointStoreProvider}); when no
 * provider serves a scheme, the generic {@link FlinkFileSystemStore} is used.
 */
public interface CheckpointStoreProvider {

    /**
     * The (lower-case) schemes this provider serves, all naming the same objects, the canonical
     * spelling first (e.g. {@code s3}, {@code s3a}, {@code s3p}). Empty for a provider that decides
     * in {@link #supportsScheme} alone.
     */
    default List<String> schemes() {
        return List.of();
    }

    /**
     * Whether this provider serves the (lower-case) scheme, e.g. {@code "s3"}; by default whether
     * {@link #schemes()} lists it.
     */
    default boolean supportsScheme(String scheme) {
        return schemes().contains(scheme);
    }

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
