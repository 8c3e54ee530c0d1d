package io.github.resilientcheckpoints.store;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.configuration.ReadableConfig;

/** Chooses the {@link CheckpointStore} for a checkpoint directory by its URI scheme. */
public final class CheckpointStores {

    /** {@link #spellingsOf} by scheme: the providers found never change in this class loader. */
    private static final Map<String, List<String>> SPELLINGS = new ConcurrentHashMap<>();

    private CheckpointStores() {}

    /**
     * Creates the store for {@code checkpointRoot}: the highest-priority provider found with {@link
     * ServiceLoader} (on this library's class loader, where Flink loads it from {@code lib/}) that
     * serves the scheme, else {@link FlinkFileSystemStore}.
     */
    public static CheckpointStore forRoot(URI checkpointRoot, ReadableConfig config)
            throws IOException {
        CheckpointStoreProvider best = providerFor(checkpointRoot);
        return best == null ? new FlinkFileSystemStore() : best.create(checkpointRoot, config);
    }

    /**
     * Lets the provider that would serve {@code checkpointRoot} check its keys ({@link
     * CheckpointStoreProvider#validate}).
     */
    public static void validate(URI checkpointRoot, ReadableConfig config) {
        CheckpointStoreProvider provider = providerFor(checkpointRoot);
        if (provider != null) {
            provider.validate(config);
        }
    }

    /**
     * The spellings of the (lower-case) {@code scheme} that name the same objects, the canonical
     * one first: the {@link CheckpointStoreProvider#schemes()} of the provider that serves it, else
     * {@code scheme} alone. Cleanup compares locations by the canonical spelling.
     */
    public static List<String> spellingsOf(String scheme) {
        return SPELLINGS.computeIfAbsent(
                scheme,
                s -> {
                    CheckpointStoreProvider provider = providerFor(s);
                    List<String> schemes = provider == null ? List.of() : provider.schemes();
                    return schemes.contains(s) ? List.copyOf(schemes) : List.of(s);
                });
    }

    private static CheckpointStoreProvider providerFor(URI checkpointRoot) {
        return providerFor(
                checkpointRoot.getScheme() == null
                        ? "file"
                        : checkpointRoot.getScheme().toLowerCase(Locale.ROOT));
    }

    private static CheckpointStoreProvider providerFor(String scheme) {
        CheckpointStoreProvider best = null;
        for (CheckpointStoreProvider provider : providers()) {
            if (provider.supportsScheme(scheme)
                    && (best == null || provider.priority() > best.priority())) {
                best = provider;
            }
        }
        return best;
    }

    static List<CheckpointStoreProvider> providers() {
        List<CheckpointStoreProvider> found = new ArrayList<>();
        ServiceLoader.load(CheckpointStoreProvider.class, CheckpointStores.class.getClassLoader())
                .forEach(found::add);
        return found;
    }
}
