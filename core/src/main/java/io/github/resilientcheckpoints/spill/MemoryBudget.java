package io.github.resilientcheckpoints.spill;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Heap that streams may use instead of disk when no spill directory has room (fallback policy
 * {@code memory}): one budget per TaskManager, taken and given back per buffer-sized chunk.
 */
public final class MemoryBudget {

    private final long capacity;
    private final AtomicLong used = new AtomicLong();

    public MemoryBudget(long capacity) {
        this.capacity = capacity;
    }

    /** Takes {@code bytes} if they fit; never blocks. */
    public boolean tryAcquire(long bytes) {
        while (true) {
            long u = used.get();
            if (u + bytes > capacity) {
                return false;
            }
            if (used.compareAndSet(u, u + bytes)) {
                return true;
            }
        }
    }

    public void release(long bytes) {
        used.addAndGet(-bytes);
    }

    public long used() {
        return used.get();
    }

    public long capacity() {
        return capacity;
    }
}
