package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.store.UploadSource;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Bytes that stop flowing after {@code gateAt} bytes of the first read-through until the test opens
 * the gate: lets a test act in the middle of an upload.
 */
final class GatedSource implements UploadSource {

    final CountDownLatch reachedGate = new CountDownLatch(1);
    final CountDownLatch gate = new CountDownLatch(1);
    private final byte[] data;
    private final int gateAt;

    GatedSource(byte[] data, int gateAt) {
        this.data = data;
        this.gateAt = gateAt;
    }

    @Override
    public long length() {
        return data.length;
    }

    @Override
    public InputStream open() {
        return new ByteArrayInputStream(data) {
            @Override
            public synchronized int read(byte[] b, int off, int len) {
                if (pos >= gateAt && gate.getCount() > 0) {
                    reachedGate.countDown();
                    try {
                        if (!gate.await(60, TimeUnit.SECONDS)) {
                            throw new IllegalStateException("gate never opened");
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return -1;
                    }
                }
                int limit = pos < gateAt ? Math.min(len, gateAt - pos) : len;
                return super.read(b, off, limit);
            }
        };
    }

    void release() {
        gate.countDown();
    }
}
