package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;

/**
 * {@code length} zero bytes; a stream that reaches position {@code blockAt} signals {@link
 * #reached} and blocks there until {@link #release} opens or its thread is interrupted.
 * Interrupted, it behaves as a well-mannered reader: sets the interrupt flag again and throws
 * {@link InterruptedIOException}. Skips never block (parts skip to their offset).
 */
final class BlockingSource implements UploadSource {

    final CountDownLatch reached = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);
    private final long length;
    private final long blockAt;

    BlockingSource(long length, long blockAt) {
        this.length = length;
        this.blockAt = blockAt;
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
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (pos >= length) {
                    return -1;
                }
                if (pos == blockAt) {
                    reached.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException(
                                "reading the staged bytes was interrupted");
                    }
                }
                long end = pos < blockAt ? Math.min(blockAt, length) : length;
                int n = (int) Math.min(len, end - pos);
                Arrays.fill(b, off, off + n, (byte) 0);
                pos += n;
                return n;
            }

            @Override
            public long skip(long n) {
                long skipped = Math.max(0, Math.min(n, length - pos));
                pos += skipped;
                return skipped;
            }
        };
    }
}
