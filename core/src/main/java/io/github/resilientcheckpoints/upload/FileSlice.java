package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.store.UploadSource;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Bytes {@code [offset, offset + length)} of a local file, e.g. one part of a spill file or the
 * confirmed prefix of one whose last write failed half-way.
 */
public final class FileSlice implements UploadSource {

    private final Path file;
    private final long offset;
    private final long length;

    public FileSlice(Path file, long offset, long length) {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException(
                    "negative slice " + offset + "+" + length + " of " + file);
        }
        this.file = file;
        this.offset = offset;
        this.length = length;
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public InputStream open() throws IOException {
        InputStream in = Files.newInputStream(file);
        try {
            in.skipNBytes(offset);
        } catch (IOException e) {
            in.close();
            throw e;
        }
        return new Bounded(in, length);
    }

    @Override
    public String toString() {
        return file + "[" + offset + ", " + (offset + length) + ")";
    }

    private static final class Bounded extends FilterInputStream {
        private long remaining;

        Bounded(InputStream in, long limit) {
            super(in);
            this.remaining = limit;
        }

        @Override
        public int read() throws IOException {
            if (remaining <= 0) {
                return -1;
            }
            int b = super.read();
            if (b >= 0) {
                remaining--;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (remaining <= 0) {
                return -1;
            }
            int n = super.read(b, off, (int) Math.min(len, remaining));
            if (n > 0) {
                remaining -= n;
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long skipped = super.skip(Math.min(n, remaining));
            remaining -= skipped;
            return skipped;
        }

        @Override
        public int available() throws IOException {
            return (int) Math.min(super.available(), remaining);
        }

        @Override
        public boolean markSupported() {
            return false;
        }
    }
}
