package io.github.resilientcheckpoints.store;

import java.io.IOException;
import java.util.List;
import org.apache.flink.core.fs.Path;

/** Optional store capability: list files under a directory with sizes and ages (for cleanup). */
public interface SupportsListing {

    /**
     * Every file below {@code directory}, recursively, in no particular order. A missing directory
     * lists as empty. Directories themselves are not listed.
     */
    List<StoredFile> listFiles(Path directory) throws IOException;
}
