package io.github.resilientcheckpoints.store;

import java.io.IOException;
import org.apache.flink.core.fs.Path;

/** The delete role of a {@link CheckpointStore}. */
public interface StateDeleter {

    /**
     * Deletes one file. Idempotent: a missing file is not an error. Never deletes directories
     * recursively.
     */
    void delete(Path path) throws IOException;
}
