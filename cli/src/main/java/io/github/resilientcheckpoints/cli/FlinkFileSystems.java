package io.github.resilientcheckpoints.cli;

import io.github.resilientcheckpoints.storage.InstallLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.core.plugin.PluginManager;
import org.apache.flink.core.plugin.PluginUtils;

/**
 * Flink's file systems for a command, with the file-system plugins of the installation the command
 * is pointed at ({@link InstallLayout#pluginsDir}), not of the shell's working directory (Flink's
 * own default when {@code FLINK_PLUGINS_DIR} is unset).
 */
public final class FlinkFileSystems {

    private FlinkFileSystems() {}

    /**
     * @param pluginsDir Flink's plugins directory, or null to let Flink look where it would
     */
    public static void initialize(Configuration conf, Path pluginsDir) throws IOException {
        PluginManager plugins;
        String[] parentFirst = CoreOptions.getPluginParentFirstLoaderPatterns(conf);
        if (pluginsDir == null) {
            plugins = PluginUtils.createPluginManagerFromRootFolder(conf);
        } else if (Files.isDirectory(pluginsDir)) {
            plugins =
                    new DefaultPluginManager(
                            new DirectoryBasedPluginFinder(pluginsDir).findPlugins(), parentFirst);
        } else {
            plugins = new DefaultPluginManager(List.of(), parentFirst);
        }
        FileSystem.initialize(conf, plugins);
    }
}
