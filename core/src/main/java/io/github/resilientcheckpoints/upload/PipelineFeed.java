package io.github.resilientcheckpoints.upload;

import java.util.concurrent.CompletableFuture;
import org.apache.flink.core.fs.Path;

/** What goes to the store while the file grows, and how it ends. */
interface PipelineFeed {

    /** For messages: "part upload" or "following write". */
    String kind();

    /** Writer thread; the upload has not ended. */
    void advance(java.nio.file.Path file, long fileBytes);

    /** Writer thread, once: sends the rest; the future completes with where the bytes are. */
    CompletableFuture<Path> finish(java.nio.file.Path file, long fileBytes);

    /**
     * Once, after the upload was given up: cancels and deletes, never on the caller's thread.
     *
     * @return completes when that is done
     */
    CompletableFuture<Void> abort(UploadContext context, String what);
}
