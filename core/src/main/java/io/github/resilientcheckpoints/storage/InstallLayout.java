package io.github.resilientcheckpoints.storage;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * How this storage is installed into a Flink distribution, in one place for everything that checks
 * an installation ({@code doctor check} in the cli, {@link InstallCheckFileSystemFactory} at
 * process start):
 *
 * <ul>
 *   <li>one jar, {@value #JAR}, built by the {@code dist} module ({@value #BUILT_JAR}); Caffeine
 *       and the S3 SDK are relocated inside it, so nothing else goes with it;
 *   <li>that jar in {@code lib/}, never in {@code plugins/}: Flink loads a checkpoint storage
 *       factory with the user-code class loader, which never sees plugin class loaders;
 *   <li>Flink's own file systems (for {@code s3://}: {@code flink-s3-fs-*}) in {@code
 *       plugins/<name>/}, where {@code plugins/} is {@code $FLINK_PLUGINS_DIR}, else {@code
 *       $FLINK_HOME/plugins}, else the sibling of the conf dir (Flink's own scripts use the same
 *       order).
 * </ul>
 */
public final class InstallLayout {

    public static final String LIB = "lib";
    public static final String PLUGINS = "plugins";
    public static final String ENV_FLINK_HOME = "FLINK_HOME";
    public static final String ENV_PLUGINS_DIR = "FLINK_PLUGINS_DIR";

    /** Every artifact of this project is named so (core, s3, hdfs, cli, the jar to install). */
    public static final String ARTIFACT_PREFIX = "resilient-checkpoint-storage-";

    /** The one jar to install, as the dist module names it. */
    public static final String JAR = ARTIFACT_PREFIX + "<version>.jar";

    /** Where the build puts it. */
    public static final String BUILT_JAR = "dist/target/" + JAR;

    /** Why the jar belongs in lib/; said by every check that finds it in plugins/. */
    public static final String WHY_NOT_PLUGINS =
            "Flink loads jars only as file systems and never finds a checkpoint storage";

    /** The version starts with a digit; a module's jar has its module's name there instead. */
    private static final Pattern INSTALL_JAR =
            Pattern.compile(Pattern.quote(ARTIFACT_PREFIX) + "\\d[^/\\\\]*\\.jar");

    private InstallLayout() {}

    /** {@code resilient-checkpoint-storage-<version>.jar}: the jar to install. */
    public static boolean isInstallJar(String fileName) {
        return INSTALL_JAR.matcher(fileName).matches() && !fileName.endsWith("-tests.jar");
    }

    /** Any jar of this project: the jar to install or a module's (core, s3, hdfs, cli). */
    public static boolean isOurJar(String fileName) {
        return fileName.startsWith(ARTIFACT_PREFIX) && fileName.endsWith(".jar");
    }

    /** True when {@code path} lies inside a directory named {@code plugins}. */
    public static boolean isInsidePlugins(Path path) {
        for (Path p = path; p != null; p = p.getParent()) {
            if (p.getFileName() != null && p.getFileName().toString().equals(PLUGINS)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The Flink distribution: {@code $FLINK_HOME}, else the parent of the conf dir; null when
     * neither is known.
     */
    public static Path home(Map<String, String> env, Path confDir) {
        String home = env.get(ENV_FLINK_HOME);
        if (home != null && !home.isBlank()) {
            return Paths.get(home).toAbsolutePath().normalize();
        }
        return confDir == null ? null : confDir.toAbsolutePath().normalize().getParent();
    }

    /**
     * Flink's plugins directory: {@code $FLINK_PLUGINS_DIR}, else {@code $FLINK_HOME/plugins}, else
     * {@code <conf dir>/../plugins}; null when none is known.
     */
    public static Path pluginsDir(Map<String, String> env, Path confDir) {
        String dir = env.get(ENV_PLUGINS_DIR);
        if (dir != null && !dir.isBlank()) {
            return Paths.get(dir).toAbsolutePath().normalize();
        }
        Path home = home(env, confDir);
        return home == null ? null : home.resolve(PLUGINS);
    }

    /** {@code lib/} of the distribution, or null. */
    public static Path libDir(Map<String, String> env, Path confDir) {
        Path home = home(env, confDir);
        return home == null ? null : home.resolve(LIB);
    }
}
