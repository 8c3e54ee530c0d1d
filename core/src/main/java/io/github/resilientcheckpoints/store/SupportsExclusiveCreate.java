package io.github.resilientcheckpoints.store;

import java.io.IOException;
import org.apache.flink.core.fs.Path;

/**
 * Optional capability: write an object only where nothing exists yet, as one atomic step of the
 * store. Used for {@code _metadata}, whose name is fixed: a checkpoint's metadata must never
 * replace an existing one (a reused job id, restored from a savepoint, would otherwise overwrite an
 * older run's retained checkpoint); Flink's own storage refuses the same way.
 */
public interface SupportsExclusiveCreate {

    /**
     * Writes all bytes of {@code source} to exactly {@code target} and returns only when they are
     * durable there, unless something already exists at {@code target}.
     *
     * <ul>
     *   <li>When something exists, nothing is written or changed and {@link
     *       java.nio.file.FileAlreadyExistsException} naming the path is thrown. The check and the
     *       write cannot race: of two writers at most one succeeds (S3: {@code If-None-Match: *};
     *       HDFS: a rename that never replaces).
     *   <li>No path rewriting (entropy injection): the bytes are at {@code target}.
     *   <li>On any other failure nothing readable is left at {@code target}; no retries of its own,
     *       like {@link StateUploader#upload}; an interrupt aborts with {@link
     *       java.io.InterruptedIOException}.
     * </ul>
     */
    void createExclusive(UploadSource source, Path target) throws IOException;
}
