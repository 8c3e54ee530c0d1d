package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.io.InputStream;

/**
 * Deterministic bytes of any length that exist nowhere in memory: byte {@code i} is a function of
 * {@code i}, so a reader can check content while streaming and skipping costs nothing.
 */
final class SyntheticSource implements UploadSource {

    private final long length;

    SyntheticSource(long length) {
        this.length = length;
    }

    static int byteAt(long i) {
        long x = i * 0x9E3779B97F4A7C15L;
        return (int) ((x >>> 56) ^ (i >>> 20)) & 0xff;
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public InputStream open() {
        return new InputStream() {
            long pos;

            @Override
            public int read() {
                return pos < length ? byteAt(pos++) : -1;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (pos >= length) {
                    return -1;
                }
                int n = (int) Math.min(len, length - pos);
                for (int i = 0; i < n; i++) {
                    b[off + i] = (byte) byteAt(pos++);
                }
                return n;
            }

            @Override
            public long skip(long n) {
                long k = Math.max(0, Math.min(n, length - pos));
                pos += k;
                return k;
            }
        };
    }

    /** Reads {@code in} to the end and says whether it is exactly this source's bytes. */
    boolean matches(InputStream in) throws IOException {
        byte[] buf = new byte[64 * 1024];
        long pos = 0;
        int n;
        while ((n = in.read(buf)) > 0) {
            for (int i = 0; i < n; i++) {
                if (pos >= length || (buf[i] & 0xff) != byteAt(pos)) {
                    return false;
                }
                pos++;
            }
        }
        return pos == length;
    }
}
