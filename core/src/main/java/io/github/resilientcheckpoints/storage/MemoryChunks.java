package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.spill.MemoryBudget;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Full buffers a state stream keeps in memory once its spill file cannot take more, within the
 * TaskManager's memory budget. Added to by the writer thread; {@link #release} from any thread.
 */
final class MemoryChunks {

    private final MemoryBudget budget;
    private final List<byte[]> chunks = new ArrayList<>();
    private final AtomicLong held = new AtomicLong();
    private long bytes;

    MemoryChunks(MemoryBudget budget) {
        this.budget = budget;
    }

    /** Keeps {@code chunk}, taking its size from the budget; false when the budget is exhausted. */
    boolean tryAdd(byte[] chunk) {
        if (!budget.tryAcquire(chunk.length)) {
            return false;
        }
        held.addAndGet(chunk.length);
        chunks.add(chunk);
        bytes += chunk.length;
        return true;
    }

    long bytes() {
        return bytes;
    }

    /** The chunks kept so far, in order. */
    List<byte[]> snapshot() {
        return new ArrayList<>(chunks);
    }

    /** Gives the memory back to the budget; idempotent, any thread. */
    void release() {
        long h = held.getAndSet(0);
        if (h > 0) {
            budget.release(h);
        }
    }
}
