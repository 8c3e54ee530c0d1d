package io.github.resilientcheckpoints.store;

import java.io.FileDescriptor;
import java.io.IOException;
import javax.annotation.Nullable;
import org.apache.flink.core.fs.Path;

/**
 * Optional store capability: the spill file is the state file itself, without its bytes being
 * copied again. The generic store offers it for a local target ({@code file://}) on the same file
 * system as the spill directory: the stream then writes its spill file in the checkpoint directory
 * under the state file's name, as Flink's own stream writes its file there, and {@link #adopt}
 * makes it durable ({@code fsync} through the writer's descriptor, what Flink's own stream does).
 *
 * <p>Adoption is an optimisation, never the only way: when {@link #adopt} fails, the file's bytes
 * are uploaded the ordinary, retried way under a new name, and the file is deleted as any spill
 * file. A stream that could adopt starts no following write.
 */
public interface SupportsSpillAdoption {

    /**
     * The local directory behind {@code targetDirectory} when a spill file for it can be written
     * there instead of in {@code spillDirectory} (the same file system), or null (cheap: a stat of
     * each; called on the task thread once per spilled stream).
     */
    @Nullable
    java.nio.file.Path adoptionDirectory(java.nio.file.Path spillDirectory, Path targetDirectory);

    /**
     * Makes the finished file, written in the {@link #adoptionDirectory} as the local file behind
     * {@code target} and still open for writing through {@code descriptor}, durable under that
     * name. On failure the file is unchanged.
     *
     * @return where the bytes are, durable
     */
    Path adopt(java.nio.file.Path file, FileDescriptor descriptor, Path target) throws IOException;
}
