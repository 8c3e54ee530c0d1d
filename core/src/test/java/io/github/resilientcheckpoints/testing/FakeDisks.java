package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillSpace;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/** Disks of a fixed size whose usage the test drives; the probe reads them. */
public final class FakeDisks implements FreeSpaceProbe {
    private final Map<Path, Long> size = new ConcurrentHashMap<>();
    private final Map<Path, AtomicLong> used = new ConcurrentHashMap<>();

    /** Declares a disk of {@code bytes} under the spill directory {@code dir}. */
    public void add(Path dir, long bytes) {
        Path sub = sub(dir);
        size.put(sub, bytes);
        used.put(sub, new AtomicLong());
    }

    /** Usage counter of the disk holding spill sub-directory {@code sub}. */
    public AtomicLong used(Path sub) {
        return used.get(sub);
    }

    public static Path sub(Path dir) {
        return dir.toAbsolutePath().normalize().resolve(SpillSpace.SUBDIR);
    }

    @Override
    public long usableBytes(Path directory) {
        return size.get(directory) - used.get(directory).get();
    }

    @Override
    public long totalBytes(Path directory) {
        return size.get(directory);
    }
}
