package io.github.resilientcheckpoints.store;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.apache.flink.core.fs.Path;

/** Optional store capability: delete many files with few requests (for cleanup). */
public interface SupportsBatchDelete {

    /**
     * Deletes the files; missing ones count as deleted. Never deletes directories recursively.
     *
     * @return the paths that could not be deleted (empty when all went)
     */
    List<Path> deleteAll(Collection<Path> paths) throws IOException;

    /** For stores without a bulk request: one delete each, failures collected. */
    static List<Path> deleteEach(StateDeleter deleter, Collection<Path> paths) {
        List<Path> failed = new ArrayList<>();
        for (Path path : paths) {
            try {
                deleter.delete(path);
            } catch (IOException | RuntimeException e) {
                failed.add(path);
            }
        }
        return failed;
    }
}
