package io.github.resilientcheckpoints.spill;

import java.io.Closeable;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.annotation.concurrent.ThreadSafe;
import org.apache.flink.annotation.VisibleForTesting;

/**
 * Counts the readers of a stream's staged bytes (spill file, memory-fallback chunks), so that the
 * disk reservation and the memory budget are given back only when nothing can read them any more:
 * the stream is finished with them <em>and</em> every reader it handed out is closed.
 *
 * <p>Why: the uploader abandons an attempt that outlives its timeout (or the deadline, or a cancel)
 * and interrupts it, but a store thread blocked in a socket write or inside the object store's
 * client does not stop on an interrupt. While it still reads, the memory chunks stay on the heap
 * and an open spill file keeps its blocks even once deleted; giving the budget back at that point
 * would let the TaskManager's accounting under-count what it really holds.
 *
 * <p>A reader that is never closed cannot pin the bytes forever: once it is unreachable it can read
 * nothing, and a {@link Cleaner} counts it out. The stores close their readers (try-with-resources
 * in the Flink file system and HDFS stores); the AWS SDK leaves closing a retried request body's
 * stream to its provider, which is what this guards against.
 */
@ThreadSafe
public final class StagedReaders {

    /**
     * One daemon thread per JVM (the JDK's own {@code InnocuousThread}: it keeps no class loader
     * alive); it only runs for readers nobody closed, and ends when this class is unloaded.
     */
    private static final Cleaner UNCLOSED_READERS = Cleaner.create();

    /** Opens the bytes; the stream returned is counted until it is closed. */
    @FunctionalInterface
    public interface Opener {
        InputStream open() throws IOException;
    }

    /** The owner's hold (until {@link #finish()}) plus one per open reader; 0 is final. */
    private final AtomicInteger holds = new AtomicInteger(1);

    private final AtomicBoolean finished = new AtomicBoolean();
    private final Runnable release;

    /**
     * @param release gives the staged bytes back; run once, by the last reader to close, when the
     *     owner finished while readers were still open (otherwise the owner releases, see {@link
     *     #finish()})
     */
    public StagedReaders(Runnable release) {
        this.release = release;
    }

    /**
     * A counted reader over the staged bytes.
     *
     * @throws IOException when the owner has finished and no reader is left: the bytes are gone
     */
    public InputStream open(Opener opener) throws IOException {
        Hold hold = hold();
        InputStream in;
        try {
            in = opener.open();
        } catch (IOException | RuntimeException | Error e) {
            hold.close();
            throw e;
        }
        return new Counted(in, hold);
    }

    /**
     * Counts one reader that reads the staged bytes its own way (a file channel) until the hold is
     * closed; open the bytes after taking it, close it after closing them.
     *
     * @throws IOException when the owner has finished and no reader is left: the bytes are gone
     */
    public Hold hold() throws IOException {
        while (true) {
            int h = holds.get();
            if (h == 0) {
                throw new IOException(
                        "The staged bytes of this state stream were already discarded (the stream"
                                + " was closed or its upload ended); nothing is left to read.");
            }
            if (holds.compareAndSet(h, h + 1)) {
                return new Hold(this);
            }
        }
    }

    /**
     * The owner is done with the staged bytes; idempotent, any thread.
     *
     * @return true when no reader is open any more, now or after an earlier call: the caller gives
     *     the bytes back itself (again, for anything it staged since; its release must be
     *     idempotent). False when open readers remain: the last one to close runs the release.
     */
    public boolean finish() {
        if (finished.compareAndSet(false, true)) {
            return holds.decrementAndGet() == 0;
        }
        return holds.get() == 0;
    }

    /** Readers open now. */
    @VisibleForTesting
    int openReaders() {
        int h = holds.get();
        return finished.get() ? h : Math.max(0, h - 1);
    }

    private void drop() {
        if (holds.decrementAndGet() == 0) {
            release.run();
        }
    }

    /** One counted reader; counted out when closed, or once unreachable if nobody closes it. */
    public static final class Hold implements Closeable {
        private final Cleaner.Cleanable counted;

        private Hold(StagedReaders readers) {
            // The action must not reach this hold, or it would never become unreachable.
            this.counted = UNCLOSED_READERS.register(this, readers::drop);
        }

        /** Idempotent. */
        @Override
        public void close() {
            counted.clean(); // runs the action at most once
        }
    }

    /** A stream that holds its reader's count: unreachable together with it. */
    private static final class Counted extends FilterInputStream {
        private final Hold hold;

        Counted(InputStream in, Hold hold) {
            super(in);
            this.hold = hold;
        }

        @Override
        public void close() throws IOException {
            try {
                super.close();
            } finally {
                hold.close();
            }
        }
    }
}
