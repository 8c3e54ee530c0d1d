package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.Causes;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.io.UncheckedIOException;
import java.util.Enumeration;
import java.util.Iterator;
import java.util.List;

/**
 * Request bodies read straight from the staged source (spill file or memory), no copy beyond what
 * is in flight: whole files and byte ranges (parts). A read failure of the source is marked as
 * {@link SourceFailure}, so the request retries never mistake a local disk's failure for S3's.
 */
final class S3RequestBodies {

    private S3RequestBodies() {}

    /** The whole source as a request body. */
    static InputStream open(UploadSource source) {
        return range(source, 0, source.length());
    }

    /** A failure of the staged source (local disk), marked so it is never mistaken for S3's. */
    static final class SourceFailure extends IOException {
        private static final long serialVersionUID = 1L;

        SourceFailure(IOException cause) {
            super(Causes.message(cause), cause);
        }
    }

    /** The bytes [offset, offset+size) of a source, as a source. */
    static UploadSource slice(UploadSource source, long offset, long size) {
        return new UploadSource() {
            @Override
            public long length() {
                return size;
            }

            @Override
            public InputStream open() {
                return range(source, offset, size);
            }
        };
    }

    /** Consecutive units as one source; each unit is opened only when the previous one is read. */
    static UploadSource joined(List<UploadSource> units) {
        if (units.size() == 1) {
            return units.get(0);
        }
        List<UploadSource> copy = List.copyOf(units);
        long length = 0;
        for (UploadSource u : copy) {
            length += u.length();
        }
        long total = length;
        return new UploadSource() {
            @Override
            public long length() {
                return total;
            }

            @Override
            public InputStream open() {
                Iterator<UploadSource> next = copy.iterator();
                return new SequenceInputStream(
                        new Enumeration<InputStream>() {
                            @Override
                            public boolean hasMoreElements() {
                                return next.hasNext();
                            }

                            @Override
                            public InputStream nextElement() {
                                UploadSource u = next.next();
                                return range(u, 0, u.length());
                            }
                        });
            }
        };
    }

    /**
     * Bytes [offset, offset+size) of the source; its read failures are marked as {@link
     * SourceFailure}.
     */
    static InputStream range(UploadSource source, long offset, long size) {
        InputStream in;
        try {
            in = source.open();
            in.skipNBytes(offset);
        } catch (IOException e) {
            throw new UncheckedIOException(new SourceFailure(e));
        }
        return new FilterInputStream(in) {
            long left = size;

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (left <= 0) {
                    return -1;
                }
                int n;
                try {
                    n = super.read(b, off, (int) Math.min(len, left));
                } catch (IOException e) {
                    throw new SourceFailure(e);
                }
                if (n > 0) {
                    left -= n;
                }
                return n;
            }
        };
    }
}
