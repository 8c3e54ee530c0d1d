package io.github.resilientcheckpoints.store;

import java.io.IOException;
import org.apache.flink.core.fs.Path;

/**
 * Optional store capability: one write that follows the spill file while the state is still being
 * written, and commits at the end (HDFS: temporary file, {@code hsync}, rename; Flink file systems:
 * {@code sync} and close). The state stream uses it so that {@code closeAndGetHandle()} only sends
 * the tail and commits. The spill file stays until the end: if anything about the following write
 * fails, it is aborted and the whole file is uploaded the ordinary, retried way under a fresh name.
 *
 * <p>Stores that take parts ({@link SupportsPartUploads}) use those instead.
 */
public interface SupportsStreamingUpload {

    /**
     * Starts a write that will end at {@code target} (or where the store puts it, e.g. with entropy
     * injected). Called on an upload thread, never on the task thread.
     */
    StreamingUpload startStreamingUpload(Path target) throws IOException;

    /**
     * One following write. {@link #write} and {@link #commit} are called by one upload thread, in
     * order; {@link #abort} comes afterwards, once that thread has left the store, from a cleanup
     * thread.
     */
    interface StreamingUpload {

        /**
         * Appends bytes; they need not be durable yet. An interrupt ends it with {@code
         * InterruptedIOException}.
         */
        void write(byte[] bytes, int offset, int length) throws IOException;

        /**
         * Makes every byte written durable and puts the file in place.
         *
         * @return where the bytes are, durable
         */
        Path commit() throws IOException;

        /**
         * Gives up: deletes everything this write created, committed or not (an upload that
         * completed after it was given up belongs to nobody); idempotent, never throws.
         */
        void abort();
    }
}
