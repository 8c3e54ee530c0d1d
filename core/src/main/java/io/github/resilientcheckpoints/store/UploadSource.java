package io.github.resilientcheckpoints.store;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * The bytes of one state file, readable as often as an upload needs to be retried. Implementations
 * are the local spill file and, for data that was never spilled, the in-memory buffer.
 */
public interface UploadSource {

    /** Exact number of bytes {@link #open()} yields. */
    long length();

    /** A fresh stream over all bytes from the start; the caller closes it. */
    InputStream open() throws IOException;

    /** The bytes of an array; not copied, so the caller leaves the array unchanged. */
    static UploadSource of(byte[] bytes) {
        return new UploadSource() {
            @Override
            public long length() {
                return bytes.length;
            }

            @Override
            public InputStream open() {
                return new ByteArrayInputStream(bytes);
            }
        };
    }
}
