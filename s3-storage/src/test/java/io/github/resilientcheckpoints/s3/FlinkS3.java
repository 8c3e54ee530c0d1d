package io.github.resilientcheckpoints.s3;

import java.net.URI;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.core.plugin.PluginManager;

/** Points Flink's s3:// file system (flink-s3-fs-native, loaded as a plugin) at a test server. */
final class FlinkS3 {

    private FlinkS3() {}

    /**
     * Flink configuration for the S3 server at {@code endpoint}: shared by Flink's FS and our
     * store.
     */
    static Configuration config(URI endpoint) {
        Configuration conf = new Configuration();
        conf.setString("s3.endpoint", endpoint.toString());
        conf.setString("s3.region", S3Server.REGION);
        conf.setString("s3.access-key", S3Server.ACCESS_KEY);
        conf.setString("s3.secret-key", S3Server.SECRET_KEY);
        conf.setString("s3.path-style-access", "true");
        return conf;
    }

    /** Initializes Flink's file systems with the plugin directory and this configuration. */
    static void initialize(Configuration conf) throws Exception {
        Path plugins = Paths.get("target", "flink-plugins").toAbsolutePath();
        PluginManager manager =
                new DefaultPluginManager(
                        new DirectoryBasedPluginFinder(plugins).findPlugins(),
                        FlinkS3.class.getClassLoader(),
                        new String[] {
                            "java.",
                            "org.apache.flink.",
                            "javax.annotation.",
                            "org.slf4j",
                            "org.apache.log4j",
                            "org.apache.logging",
                            "org.apache.commons.logging",
                            "ch.qos.logback"
                        });
        FileSystem.initialize(conf, manager);
    }
}
