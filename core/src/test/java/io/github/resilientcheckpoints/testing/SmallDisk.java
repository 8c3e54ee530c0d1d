package io.github.resilientcheckpoints.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Optional;

/**
 * The small real file system of the disk-full tests: {@code RCS_SMALL_DISK}, mounted by {@code
 * .ci/run} when it runs as root. Modules build in parallel, so {@code .ci/run} mounts one small
 * file system per module that uses it, at {@code $RCS_SMALL_DISK/<artifactId>} (the artifact id
 * comes in the system property {@code rcs.module}); a module without its own uses {@code
 * RCS_SMALL_DISK} itself. Free space is per file system: two modules sharing one would see each
 * other's files.
 */
public final class SmallDisk {

    private SmallDisk() {}

    /** This module's small disk, if one is mounted. */
    public static Optional<Path> location() {
        String env = System.getenv("RCS_SMALL_DISK");
        if (env == null || env.isBlank()) {
            return Optional.empty();
        }
        Path root = Paths.get(env);
        String module = System.getProperty("rcs.module");
        if (module != null && !module.isBlank() && Files.isDirectory(root.resolve(module))) {
            return Optional.of(root.resolve(module));
        }
        return Files.isDirectory(root) ? Optional.of(root) : Optional.empty();
    }
}
