package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.spill.StagedReaders;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import javax.annotation.Nullable;

/**
 * The staged bytes of one stream: a prefix in the spill file, then full memory chunks, then the
 * buffer.
 */
public final class StagedSource implements UploadSource {
    private final java.nio.file.Path file;
    private final long fileBytes;
    private final List<byte[]> chunks;
    private final byte[] tail;
    private final int tailLength;
    private final long length;
    private final StagedReaders readers;

    public StagedSource(
            @Nullable java.nio.file.Path file,
            long fileBytes,
            List<byte[]> chunks,
            byte[] tail,
            int tailLength,
            StagedReaders readers) {
        this.readers = readers;
        this.file = file;
        this.fileBytes = file == null ? 0 : fileBytes;
        this.chunks = chunks;
        this.tail = tail;
        this.tailLength = tailLength;
        long n = this.fileBytes + tailLength;
        for (byte[] c : chunks) {
            n += c.length;
        }
        this.length = n;
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public InputStream open() throws IOException {
        return readers.open(this::openParts);
    }

    private InputStream openParts() throws IOException {
        List<InputStream> parts = new ArrayList<>();
        if (file != null && fileBytes > 0) {
            // Only the confirmed prefix: a write that failed half-way may have left a tail.
            parts.add(new FileSlice(file, 0, fileBytes).open());
        }
        for (byte[] c : chunks) {
            parts.add(new ByteArrayInputStream(c));
        }
        parts.add(new ByteArrayInputStream(tail, 0, tailLength));
        return new SequenceInputStream(Collections.enumeration(parts));
    }
}
