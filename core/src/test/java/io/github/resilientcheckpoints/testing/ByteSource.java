package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.store.UploadSource;
import java.io.ByteArrayInputStream;
import java.io.InputStream;

/** An {@link UploadSource} over a byte array. */
public final class ByteSource implements UploadSource {
    private final byte[] bytes;

    public ByteSource(byte[] bytes) {
        this.bytes = bytes;
    }

    @Override
    public long length() {
        return bytes.length;
    }

    @Override
    public InputStream open() {
        return new ByteArrayInputStream(bytes);
    }
}
