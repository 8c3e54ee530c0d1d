package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.FlinkFileSystemStore;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.core.fs.Path;

/**
 * The real local-file store with a script in front: queued failures are thrown by the next attempts
 * (after writing part of the bytes, like a connection reset mid-body), a hang blocks an attempt
 * until interrupted. Everything else reaches the real {@link FlinkFileSystemStore}.
 */
public final class ScriptedStore implements CheckpointStore {

    private final FlinkFileSystemStore real = new FlinkFileSystemStore();
    private final Deque<Step> script = new ArrayDeque<>();
    private final AtomicInteger attempts = new AtomicInteger();
    private final List<Path> targets = Collections.synchronizedList(new ArrayList<>());
    private volatile boolean failForever;
    private volatile IOException foreverFailure;
    private volatile boolean refuseInterruptedCleanup;
    private final AtomicInteger refusedCleanups = new AtomicInteger();
    public final CountDownLatch attemptStarted = new CountDownLatch(1);

    private interface Step {
        Path run(UploadSource source, Path target) throws IOException;
    }

    /** The next attempt writes half the bytes and then fails with {@code failure}. */
    public synchronized ScriptedStore thenFailMidBody(IOException failure) {
        script.add(
                (source, target) -> {
                    writePartially(source, target);
                    throw failure;
                });
        return this;
    }

    /** The next attempt fails before writing anything. */
    public synchronized ScriptedStore thenFail(IOException failure) {
        script.add(
                (source, target) -> {
                    throw failure;
                });
        return this;
    }

    /** The next attempt writes part of the bytes and then blocks until interrupted. */
    public synchronized ScriptedStore thenHang() {
        script.add(
                (source, target) -> {
                    writePartially(source, target);
                    try {
                        Thread.sleep(Long.MAX_VALUE);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException("hung attempt interrupted");
                    }
                    throw new AssertionError();
                });
        return this;
    }

    /** Every attempt from now on fails with {@code failure}. */
    public ScriptedStore failingForever(IOException failure) {
        this.foreverFailure = failure;
        this.failForever = true;
        return this;
    }

    /**
     * Deletes made on an interrupted thread fail, as with the AWS SDK ({@code AbortedException}):
     * cleanup must run on a thread nobody interrupted.
     */
    public ScriptedStore refusingCleanupOnInterruptedThreads() {
        this.refuseInterruptedCleanup = true;
        return this;
    }

    /** Deletes refused because they ran on an interrupted thread. */
    public int refusedCleanups() {
        return refusedCleanups.get();
    }

    @Override
    public Path upload(UploadSource source, Path target) throws IOException {
        attempts.incrementAndGet();
        targets.add(target);
        attemptStarted.countDown();
        Step step;
        synchronized (this) {
            step = script.poll();
        }
        if (step != null) {
            return step.run(source, target);
        }
        if (failForever) {
            throw foreverFailure;
        }
        return real.upload(source, target);
    }

    /** Writes the first half of the source to the target without cleaning up, as a crash would. */
    private static void writePartially(UploadSource source, Path target) throws IOException {
        java.nio.file.Path file = Paths.get(target.toUri());
        Files.createDirectories(file.getParent());
        try (InputStream in = source.open()) {
            byte[] half = in.readNBytes((int) Math.min(source.length() / 2, 1 << 20));
            Files.write(file, half);
        }
    }

    public int attempts() {
        return attempts.get();
    }

    public List<Path> targets() {
        synchronized (targets) {
            return new ArrayList<>(targets);
        }
    }

    @Override
    public void delete(Path path) throws IOException {
        if (refuseInterruptedCleanup && Thread.currentThread().isInterrupted()) {
            refusedCleanups.incrementAndGet();
            throw new IOException("AbortedException: Thread was interrupted (delete " + path + ")");
        }
        real.delete(path);
    }

    @Override
    public FailureClass classify(Throwable failure) {
        return real.classify(failure);
    }

    @Override
    public String name() {
        return "scripted";
    }

    @Override
    public void close() {}
}
