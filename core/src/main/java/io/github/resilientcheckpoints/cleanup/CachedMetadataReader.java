package io.github.resilientcheckpoints.cleanup;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.github.resilientcheckpoints.store.StoredFile;
import java.time.Duration;
import java.util.Set;
import org.apache.flink.core.fs.Path;

/**
 * References of {@code _metadata} files, parsed once per version (path, size, modification time):
 * the janitor reads every checkpoint of every job under a root on every sweep, and completed
 * checkpoints never change. One per JVM runtime, so the parsed sets outlive a single sweep.
 */
public final class CachedMetadataReader implements CheckpointIndex.MetadataReader {

    private final ClassLoader classLoader;
    private final Cache<MetadataVersion, Set<String>> references =
            Caffeine.newBuilder()
                    .maximumSize(10_000)
                    .expireAfterAccess(Duration.ofHours(6))
                    .build();

    public CachedMetadataReader(ClassLoader classLoader) {
        this.classLoader = classLoader;
    }

    @Override
    public Set<String> references(Path checkpointDir, StoredFile metadata)
            throws UnreadableMetadataException {
        if (metadata == null) {
            return MetadataReferences.read(checkpointDir, classLoader);
        }
        MetadataVersion version =
                new MetadataVersion(
                        Locations.key(metadata.path()),
                        metadata.size(),
                        metadata.modificationTimeMillis());
        Set<String> cached = references.getIfPresent(version);
        if (cached == null) {
            cached = MetadataReferences.read(checkpointDir, classLoader);
            references.put(version, cached);
        }
        return cached;
    }

    private record MetadataVersion(String key, long size, long modifiedMillis) {}
}
