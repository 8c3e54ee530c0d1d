package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.annotation.concurrent.ThreadSafe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stores of one {@link StorageRuntime} by {@link StoreKey}: when each was last asked for, how
 * many streams use it now, and closing those left idle.
 */
@ThreadSafe
final class RuntimeStores {

    private static final Logger LOG = LoggerFactory.getLogger(RuntimeStores.class);

    /** Creates the store of a key on first use. */
    interface Factory {
        CheckpointStore create() throws IOException;
    }

    private final String name;
    private final Ticker ticker;
    private final ConcurrentHashMap<StoreKey, Entry> stores = new ConcurrentHashMap<>();

    RuntimeStores(String name, Ticker ticker) {
        this.name = name;
        this.ticker = ticker;
    }

    /**
     * The store of {@code key}, created by {@code factory} on first use; {@code checkOpen} runs
     * under the key's lock, so no store is created after the runtime closed.
     *
     * @param idleNanos closed when unused this long (the longest any user asked for wins)
     */
    CheckpointStore get(StoreKey key, long idleNanos, Factory factory, Runnable checkOpen)
            throws IOException {
        try {
            return stores.compute(
                            key,
                            (k, existing) -> {
                                checkOpen.run();
                                if (existing != null) {
                                    existing.lastUsedNanos = ticker.nanoTime();
                                    // Jobs with longer checkpoint timeouts share it: the longest
                                    // wins, never the first job's.
                                    existing.idleNanos = Math.max(existing.idleNanos, idleNanos);
                                    return existing;
                                }
                                try {
                                    LOG.info(
                                            "Creating the checkpoint store for {} in runtime '{}'.",
                                            k,
                                            name);
                                    return new Entry(
                                            factory.create(), idleNanos, ticker.nanoTime());
                                } catch (IOException e) {
                                    throw new UncheckedIOException(e);
                                }
                            })
                    .store;
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** The keys of the stores open now (no secret in them). */
    List<String> keys() {
        List<String> keys = new ArrayList<>();
        for (StoreKey key : stores.keySet()) {
            keys.add(key.toString());
        }
        return keys;
    }

    /**
     * Closes the stores nobody asked for in their idle time and no stream uses.
     *
     * @return how many were closed
     */
    int closeIdle() {
        long now = ticker.nanoTime();
        List<Map.Entry<StoreKey, CheckpointStore>> idle = new ArrayList<>();
        for (StoreKey key : stores.keySet()) {
            stores.computeIfPresent(
                    key,
                    (k, e) -> {
                        if (e.streams.get() == 0 && now - e.lastUsedNanos >= e.idleNanos) {
                            idle.add(Map.entry(k, e.store));
                            return null;
                        }
                        return e;
                    });
        }
        for (Map.Entry<StoreKey, CheckpointStore> e : idle) {
            LOG.info("Closing the checkpoint store for {}: unused for a while.", e.getKey());
            closeQuietly(e.getValue(), null);
        }
        return idle.size();
    }

    /**
     * Marks {@code store} (one of these) as used by one more stream until the result is released: a
     * store with an open stream is never closed as idle, however long the stream lives (task-owned
     * state stays open for a checkpoint interval).
     */
    WorkerServices.StoreInUse use(CheckpointStore store) {
        for (Entry e : stores.values()) {
            if (e.store == store) {
                e.streams.incrementAndGet();
                AtomicBoolean released = new AtomicBoolean();
                return () -> {
                    if (released.compareAndSet(false, true)) {
                        e.lastUsedNanos = ticker.nanoTime();
                        e.streams.decrementAndGet();
                    }
                };
            }
        }
        return WorkerServices.StoreInUse.NONE;
    }

    /** Closes every store; failures are logged. */
    void closeAll() {
        IOException failure = null;
        for (StoreKey key : new ArrayList<>(stores.keySet())) {
            Entry entry = stores.remove(key);
            if (entry != null) {
                failure = closeQuietly(entry.store, failure);
            }
        }
        if (failure != null) {
            LOG.warn("Closing the stores of storage runtime '{}' failed", name, failure);
        }
    }

    /** Closes a store; the first failure is returned, later ones are added to it as suppressed. */
    private static IOException closeQuietly(CheckpointStore store, IOException failure) {
        try {
            store.close();
        } catch (IOException | RuntimeException e) {
            IOException io =
                    e instanceof IOException
                            ? (IOException) e
                            : new IOException("closing store " + store.name() + " failed", e);
            if (failure == null) {
                return io;
            }
            failure.addSuppressed(io);
        }
        return failure;
    }

    /** A store, when it was last asked for, and how many streams use it now. */
    private static final class Entry {
        final CheckpointStore store;
        volatile long idleNanos;
        volatile long lastUsedNanos;
        final AtomicInteger streams = new AtomicInteger();

        Entry(CheckpointStore store, long idleNanos, long nowNanos) {
            this.store = store;
            this.idleNanos = idleNanos;
            this.lastUsedNanos = nowNanos;
        }
    }
}
