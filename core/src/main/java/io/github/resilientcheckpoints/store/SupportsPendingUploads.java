package io.github.resilientcheckpoints.store;

import java.io.IOException;
import java.util.List;
import org.apache.flink.core.fs.Path;

/**
 * Optional store capability: uploads that were started but never completed (S3 multipart uploads)
 * are invisible to listings yet billed; cleanup lists and aborts them.
 */
public interface SupportsPendingUploads {

    /** An upload started at {@code initiatedMillis} for {@code path} and never completed. */
    record PendingUpload(Path path, String uploadId, long initiatedMillis) {}

    /** Pending uploads whose target lies below {@code directory}. */
    List<PendingUpload> listPendingUploads(Path directory) throws IOException;

    /** Aborts one; an upload that is already gone is not an error. */
    void abortPendingUpload(PendingUpload upload) throws IOException;
}
