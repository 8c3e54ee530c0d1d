package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.store.UploadSource;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/** A source as the store reads it: every chunk waits for the throttle's bandwidth. */
final class ThrottledSource implements UploadSource {
    private final UploadSource source;
    private final UploadThrottle throttle;
    private final UploadDeadline deadline;

    ThrottledSource(UploadSource source, UploadThrottle throttle, UploadDeadline deadline) {
        this.source = source;
        this.throttle = throttle;
        this.deadline = deadline;
    }

    @Override
    public long length() {
        return source.length();
    }

    @Override
    public InputStream open() throws IOException {
        InputStream in = source.open();
        if (!throttle.settings().rateLimited()) {
            return in;
        }
        return new FilterInputStream(in) {
            @Override
            public int read() throws IOException {
                throttle.acquireBytes(1, deadline.nanos());
                return super.read();
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0) {
                    throttle.acquireBytes(n, deadline.nanos());
                }
                return n;
            }
        };
    }
}
