package io.github.resilientcheckpoints.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which jar is the one to install, and where Flink's plugins directory is. */
class InstallLayoutTest {

    @Test
    void theDistJarIsTheOneToInstall() {
        assertThat(InstallLayout.isInstallJar("resilient-checkpoint-storage-0.1.0.jar")).isTrue();
        assertThat(InstallLayout.isInstallJar("resilient-checkpoint-storage-0.1.0-SNAPSHOT.jar"))
                .isTrue();
        assertThat(InstallLayout.isInstallJar("resilient-checkpoint-storage-core-0.1.0.jar"))
                .isFalse();
        assertThat(InstallLayout.isInstallJar("resilient-checkpoint-storage-cli.jar")).isFalse();
        assertThat(InstallLayout.isInstallJar("resilient-checkpoint-storage-0.1.0-tests.jar"))
                .isFalse();
        assertThat(InstallLayout.isOurJar("resilient-checkpoint-storage-core-0.1.0.jar")).isTrue();
        assertThat(InstallLayout.isOurJar("caffeine-3.2.4.jar")).isFalse();
        assertThat(InstallLayout.BUILT_JAR)
                .isEqualTo("dist/target/resilient-checkpoint-storage-<version>.jar");
    }

    @Test
    void pluginsAreFlinkPluginsDirElseFlinkHomeElseNextToTheConfDir() {
        Path conf = Paths.get("/opt/flink/conf");
        assertThat(InstallLayout.pluginsDir(Map.of(), conf))
                .isEqualTo(Paths.get("/opt/flink/plugins"));
        assertThat(InstallLayout.libDir(Map.of(), conf)).isEqualTo(Paths.get("/opt/flink/lib"));
        assertThat(InstallLayout.pluginsDir(Map.of("FLINK_HOME", "/srv/flink"), conf))
                .isEqualTo(Paths.get("/srv/flink/plugins"));
        assertThat(
                        InstallLayout.pluginsDir(
                                Map.of("FLINK_HOME", "/srv/flink", "FLINK_PLUGINS_DIR", "/p"),
                                conf))
                .isEqualTo(Paths.get("/p"));
        assertThat(InstallLayout.pluginsDir(Map.of(), null)).isNull();
        assertThat(InstallLayout.isInsidePlugins(Paths.get("/opt/flink/plugins/rcs/x.jar")))
                .isTrue();
        assertThat(InstallLayout.isInsidePlugins(Paths.get("/opt/flink/lib/x.jar"))).isFalse();
    }
}
