package io.github.resilientcheckpoints.storage;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Paths;
import java.security.CodeSource;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.classloading.ComponentClassLoader;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Not a file system: a tripwire for a jar installed in Flink's {@code plugins/} instead of {@code
 * lib/}. Flink loads every jar in {@code plugins/} as a file-system plugin when a JobManager or
 * TaskManager starts ({@code FileSystem.initialize} with its plugin manager), but it never looks
 * there for a checkpoint storage factory, so a misplaced jar otherwise shows only as Flink's
 * "Cannot find configured state backend factory class" deep in a failed submission. Loaded by a
 * plugin class loader, this factory logs one ERROR naming the jar and saying to move it to {@code
 * lib/}. Loaded from {@code lib/} (the application class loader) it does nothing visible. Where the
 * jar belongs is {@link InstallLayout}'s to say, shared with the cli's {@code doctor check}.
 *
 * <p>Flink registers it for the scheme {@value #SCHEME}, which no file system uses; opening a path
 * of that scheme fails with an explanation.
 */
public final class InstallCheckFileSystemFactory implements FileSystemFactory {

    /** A scheme that names this project, so that it can never shadow a real file system. */
    public static final String SCHEME = "resilient-checkpoint-storage-install-check";

    private static final Logger LOG = LoggerFactory.getLogger(InstallCheckFileSystemFactory.class);

    /** Once per class loader: Flink may initialize its file systems more than once in a process. */
    private static final AtomicBoolean REPORTED = new AtomicBoolean();

    @Override
    public String getScheme() {
        return SCHEME;
    }

    @Override
    public void configure(Configuration config) {
        ClassLoader loader = InstallCheckFileSystemFactory.class.getClassLoader();
        // Flink's plugin class loaders are component class loaders; lib/ and job jars never are.
        if (loader instanceof ComponentClassLoader && REPORTED.compareAndSet(false, true)) {
            LOG.error(
                    "Resilient Checkpoint Storage is installed in Flink's "
                            + InstallLayout.PLUGINS
                            + " directory ({}), where "
                            + InstallLayout.WHY_NOT_PLUGINS
                            + ": jobs that set 'execution.checkpointing.storage' to its factory fail with"
                            + " 'Cannot find configured state backend factory class'. Remove this jar from "
                            + InstallLayout.PLUGINS
                            + "/ and move it to "
                            + InstallLayout.LIB
                            + "/ on the JobManager and every TaskManager, then restart them.",
                    location());
        }
    }

    @Override
    public FileSystem create(URI fsUri) throws IOException {
        throw new IOException(
                "'"
                        + SCHEME
                        + "://' is not a file system: Resilient Checkpoint Storage registers"
                        + " this scheme only to notice when its jar was put into Flink's plugins/ directory. Use the"
                        + " scheme of a real store for '"
                        + fsUri
                        + "'.");
    }

    private static String location() {
        CodeSource source =
                InstallCheckFileSystemFactory.class.getProtectionDomain().getCodeSource();
        if (source == null || source.getLocation() == null) {
            return "unknown location";
        }
        try {
            return Paths.get(source.getLocation().toURI()).toString();
        } catch (RuntimeException | URISyntaxException e) {
            return source.getLocation().toString();
        }
    }
}
