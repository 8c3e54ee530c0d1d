package io.github.resilientcheckpoints.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The installable jar put into Flink's plugins/ instead of lib/: Flink loads it there as a
 * file-system plugin when a JobManager or TaskManager starts ({@code FileSystem.initialize} with
 * the plugin manager built from the plugins directory), and exactly then it must say, once and as
 * an ERROR, which jar is misplaced and to move it to lib/. From lib/ (the application class loader)
 * it says nothing.
 */
class MisplacedJarIT {

    @TempDir Path flinkHome;

    private final List<LogEvent> events = new CopyOnWriteArrayList<>();
    private AbstractAppender appender;

    @BeforeEach
    void captureLog() {
        appender =
                new AbstractAppender(
                        "misplaced-jar-capture", null, null, true, Property.EMPTY_ARRAY) {
                    @Override
                    public void append(LogEvent event) {
                        events.add(event.toImmutable());
                    }
                };
        appender.start();
        LoggerContext context = (LoggerContext) LogManager.getContext(false);
        context.getConfiguration().getRootLogger().addAppender(appender, Level.ALL, null);
        context.updateLoggers();
    }

    @AfterEach
    void reset() {
        LoggerContext context = (LoggerContext) LogManager.getContext(false);
        context.getConfiguration().getRootLogger().removeAppender(appender.getName());
        context.updateLoggers();
        appender.stop();
        FileSystem.initialize(new Configuration(), null);
    }

    @Test
    void inPluginsTheJarLogsOneErrorNamingItsPathAndLib() throws Exception {
        Path pluginDir = Files.createDirectories(flinkHome.resolve("plugins").resolve("rcs"));
        Path misplaced =
                Files.copy(
                        DistJarIT.distJar(), pluginDir.resolve(DistJarIT.distJar().getFileName()));
        Configuration config = new Configuration();

        // What ClusterEntrypoint and TaskManagerRunner do at start (PluginUtils with
        // FLINK_PLUGINS_DIR).
        FileSystem.initialize(
                config,
                new DefaultPluginManager(
                        new DirectoryBasedPluginFinder(flinkHome.resolve("plugins")).findPlugins(),
                        CoreOptions.getPluginParentFirstLoaderPatterns(config)));

        List<String> errors = errors();
        assertThat(errors).as("ERROR events").hasSize(1);
        assertThat(errors.get(0)).contains(misplaced.toString()).contains("move it to lib/");
    }

    @Test
    void inLibTheJarSaysNothing() {
        // The classpath of this test is what lib/ is on a cluster: the application class loader.
        FileSystem.initialize(new Configuration(), null);

        assertThat(errors()).isEmpty();
        assertThat(events)
                .noneMatch(
                        e ->
                                e.getLevel().isMoreSpecificThan(Level.WARN)
                                        && e.getLoggerName()
                                                .startsWith("io.github.resilientcheckpoints"));
    }

    private List<String> errors() {
        return events.stream()
                .filter(e -> e.getLevel() == Level.ERROR)
                .map(e -> e.getMessage().getFormattedMessage())
                .toList();
    }
}
