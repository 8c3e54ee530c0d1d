package io.github.resilientcheckpoints.store;

import java.io.IOException;
import org.apache.flink.core.fs.Path;

/**
 * Optional store capability: the finished spill file becomes the state file itself, without its
 * bytes being copied again. The generic store offers it for a local target ({@code file://}) on the
 * same file system as the spill directory: it hard-links the spill file at the target, then makes
 * it durable there ({@code fsync}, what Flink's own stream does to its file). Copying would pass
 * every byte through the kernel twice more for nothing: the spill file already is the state file.
 *
 * <p>Adoption is an optimisation, never the only way: when {@link #adopt} fails, the spill file is
 * uploaded the ordinary, retried way. A stream that could adopt starts no following write.
 */
public interface SupportsSpillAdoption {

    /**
     * Whether a spill file at {@code spillFile} can become a file in {@code targetDirectory}
     * (cheap: a stat of each; called on the task thread once per spilled stream).
     */
    boolean canAdopt(java.nio.file.Path spillFile, Path targetDirectory);

    /**
     * Puts the finished spill file in place at {@code target} and makes it durable under that name.
     * On failure nothing is left at {@code target} and the spill file is unchanged.
     *
     * @return where the bytes are, durable
     */
    Path adopt(java.nio.file.Path spillFile, Path target) throws IOException;
}
