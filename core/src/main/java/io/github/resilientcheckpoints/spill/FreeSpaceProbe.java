package io.github.resilientcheckpoints.spill;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads how much room a directory's file system has; injected so allocators are testable. */
public interface FreeSpaceProbe {

    /** Bytes this process may still write on the directory's file system. */
    long usableBytes(Path directory) throws IOException;

    /** Size of the directory's file system. */
    long totalBytes(Path directory) throws IOException;

    /** The real file system, via {@link FileStore} (one {@code statvfs} per call). */
    FreeSpaceProbe FILE_STORE =
            new FreeSpaceProbe() {
                @Override
                public long usableBytes(Path directory) throws IOException {
                    return Files.getFileStore(directory).getUsableSpace();
                }

                @Override
                public long totalBytes(Path directory) throws IOException {
                    return Files.getFileStore(directory).getTotalSpace();
                }
            };
}
