package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.core.fs.Path;

/**
 * A local-file store with part uploads, shaped like S3 multipart: an upload is pending from start
 * until it is completed or aborted, parts are read on part threads, and completing writes the
 * concatenation to the target. Like the AWS SDK, it refuses cleanup calls (abort, delete) made on
 * an interrupted thread: they fail and the upload (or file) stays behind.
 */
public final class PartUploadStore implements CheckpointStore, SupportsPartUploads {

    private final FlinkFileSystemStore real = new FlinkFileSystemStore();
    private final long partSize;
    private final ExecutorService partThreads =
            Executors.newCachedThreadPool(
                    r -> {
                        Thread t = new Thread(r, "fake-part");
                        t.setDaemon(true);
                        return t;
                    });
    private final Map<String, Path> pending = new ConcurrentHashMap<>();
    private final AtomicInteger started = new AtomicInteger();
    private final AtomicInteger aborted = new AtomicInteger();
    private final AtomicInteger refusedCleanups = new AtomicInteger();
    private volatile CountDownLatch completionGate;

    /** Counted down when a completion starts (and then waits for the gate, if one is set). */
    public final CountDownLatch completionStarted = new CountDownLatch(1);

    public PartUploadStore(long partSize) {
        this.partSize = partSize;
    }

    /** Completions block until {@link #openCompletionGate()} or an interrupt. */
    public PartUploadStore holdingCompletions() {
        completionGate = new CountDownLatch(1);
        return this;
    }

    public void openCompletionGate() {
        CountDownLatch gate = completionGate;
        if (gate != null) {
            gate.countDown();
        }
    }

    /** Part uploads started and neither completed nor aborted. */
    public int pendingUploads() {
        return pending.size();
    }

    public int startedUploads() {
        return started.get();
    }

    public int abortedUploads() {
        return aborted.get();
    }

    /** Aborts and deletes refused because they ran on an interrupted thread. */
    public int refusedCleanups() {
        return refusedCleanups.get();
    }

    @Override
    public long partSize() {
        return partSize;
    }

    @Override
    public PartUpload startPartUpload(Path target) {
        String id = "upload-" + started.incrementAndGet();
        pending.put(id, target);
        return new FakePartUpload(id, target);
    }

    @Override
    public Path upload(UploadSource source, Path target) throws IOException {
        return real.upload(source, target);
    }

    @Override
    public void delete(Path path) throws IOException {
        refuseIfInterrupted("DeleteObject " + path);
        real.delete(path);
    }

    private void refuseIfInterrupted(String what) throws IOException {
        if (Thread.currentThread().isInterrupted()) {
            refusedCleanups.incrementAndGet();
            throw new IOException("AbortedException: Thread was interrupted (" + what + ")");
        }
    }

    @Override
    public FailureClass classify(Throwable failure) {
        return real.classify(failure);
    }

    @Override
    public String name() {
        return "fake-parts";
    }

    @Override
    public void close() {
        partThreads.shutdownNow();
    }

    private final class FakePartUpload implements PartUpload {
        private final String id;
        private final Path target;
        private final List<Future<byte[]>> parts = new ArrayList<>();

        FakePartUpload(String id, Path target) {
            this.id = id;
            this.target = target;
        }

        @Override
        public synchronized void submitPart(int partNumber, UploadSource bytes) {
            if (partNumber != parts.size() + 1) {
                throw new IllegalStateException("part " + partNumber + " after " + parts.size());
            }
            parts.add(partThreads.submit(() -> readAll(bytes)));
        }

        @Override
        public Path complete(int lastPartNumber, UploadSource lastPart) throws IOException {
            completionStarted.countDown();
            CountDownLatch gate = completionGate;
            try {
                if (gate != null) {
                    gate.await();
                }
                List<Future<byte[]>> all;
                synchronized (this) {
                    all = new ArrayList<>(parts);
                }
                if (lastPartNumber != all.size() + 1) {
                    throw new IllegalStateException(
                            "last part " + lastPartNumber + " after " + all.size());
                }
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                for (Future<byte[]> f : all) {
                    out.write(f.get());
                }
                out.write(readAll(lastPart));
                if (!pending.containsKey(id)) {
                    throw new IOException("NoSuchUpload: " + id + " was aborted");
                }
                java.nio.file.Path file = Paths.get(target.toUri());
                Files.createDirectories(file.getParent());
                Files.write(file, out.toByteArray());
                pending.remove(id);
                return target;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while completing " + id);
            } catch (ExecutionException e) {
                throw new IOException(e.getCause());
            }
        }

        @Override
        public void abort() {
            try {
                refuseIfInterrupted("AbortMultipartUpload " + id);
            } catch (IOException e) {
                return; // never throws, like the real one: the upload stays pending
            }
            synchronized (this) {
                parts.forEach(f -> f.cancel(true));
            }
            if (pending.remove(id) != null) {
                aborted.incrementAndGet();
            }
        }
    }

    private static byte[] readAll(UploadSource source) throws IOException {
        try (InputStream in = source.open()) {
            byte[] bytes = in.readAllBytes();
            if (bytes.length != source.length()) {
                throw new IOException(
                        "source gave " + bytes.length + " of " + source.length() + " bytes");
            }
            return bytes;
        }
    }
}
