package io.github.resilientcheckpoints.store;

import java.io.IOException;
import org.apache.flink.core.fs.Path;

/**
 * Optional store capability: upload a file in parts that may start before the file is complete (S3
 * multipart). The state stream uses it to send full parts of its spill file while the state is
 * still being written; the spill file stays until the end, so if anything about the part upload
 * fails, the whole file is uploaded the ordinary, retried way instead.
 */
public interface SupportsPartUploads {

    /** Every part but the last has exactly this size (S3: at least 5 MiB). */
    long partSize();

    /**
     * A stream starts sending parts only once it has spilled this much (files that end smaller go
     * up in one request at the end).
     */
    default long pipelineThreshold() {
        return partSize();
    }

    /** Starts a part upload that will end at {@code target} (or where the store puts it). */
    PartUpload startPartUpload(Path target) throws IOException;

    /** One part upload in progress. Parts are sent in the background and retried alone. */
    interface PartUpload {

        /** Queues part {@code partNumber} (1-based, consecutive, full size); returns at once. */
        void submitPart(int partNumber, UploadSource bytes);

        /**
         * Sends the last part (it may be shorter than the others, or empty), waits for all parts
         * and completes the upload.
         *
         * @return where the bytes are, durable
         */
        Path complete(int lastPartNumber, UploadSource lastPart) throws IOException;

        /**
         * Gives up: cancels parts in flight and deletes what was sent; idempotent, never throws.
         */
        void abort();
    }
}
