package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.spill.StagedReaders;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.core.fs.Path;

/** S3 multipart: full parts are queued as they are written; the store sends and retries them. */
final class PartsFeed implements PipelineFeed {
    private final SupportsPartUploads.PartUpload upload;
    private final long partSize;
    private final UploadContext context;
    private final UploadDeadline deadline;
    private final StagedReaders readers;

    /** Writer thread only. */
    private int partsSent;

    PartsFeed(
            SupportsPartUploads.PartUpload upload,
            long partSize,
            UploadContext context,
            UploadDeadline deadline,
            StagedReaders readers) {
        this.readers = readers;
        this.upload = upload;
        this.partSize = partSize;
        this.context = context;
        this.deadline = deadline;
    }

    @Override
    public String kind() {
        return "part upload";
    }

    @Override
    public void advance(java.nio.file.Path file, long fileBytes) {
        while (fileBytes - (long) partsSent * partSize >= partSize) {
            long offset = (long) partsSent * partSize;
            upload.submitPart(partsSent + 1, slice(file, offset, partSize));
            partsSent++;
        }
    }

    @Override
    public CompletableFuture<Path> finish(java.nio.file.Path file, long fileBytes) {
        long sent = (long) partsSent * partSize;
        int lastPart = partsSent + 1;
        UploadSource last = slice(file, sent, fileBytes - sent);
        CompletableFuture<Path> completion = new CompletableFuture<>();
        context.executor()
                .execute(
                        () -> {
                            try {
                                completion.complete(upload.complete(lastPart, last));
                            } catch (Throwable t) {
                                completion.completeExceptionally(t);
                            }
                        });
        return completion;
    }

    /** Bytes of the file as the store reads them: throttled, and counted while open. */
    private UploadSource slice(java.nio.file.Path file, long offset, long length) {
        FileSlice slice = new FileSlice(file, offset, length);
        UploadSource counted =
                new UploadSource() {
                    @Override
                    public long length() {
                        return length;
                    }

                    @Override
                    public InputStream open() throws IOException {
                        return readers.open(slice::open);
                    }
                };
        return context.throttled(counted, deadline);
    }

    @Override
    public CompletableFuture<Void> abort(UploadContext context, String what) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        context.discardInBackground(
                what,
                () -> {
                    try {
                        upload.abort();
                    } finally {
                        done.complete(null);
                    }
                });
        return done;
    }

    @Override
    public String toString() {
        return partsSent + " parts sent";
    }
}
