package io.github.resilientcheckpoints.cli.doctor;

import java.util.List;
import org.apache.flink.runtime.util.EnvironmentInformation;

/** {@code flink-version}: the Flink on the classpath is of the line this build targets. */
final class FlinkVersionCheck implements PreflightCheck {

    @Override
    public List<Finding> run() {
        return List.of(flinkVersion());
    }

    static Finding flinkVersion() {
        String version = EnvironmentInformation.getVersion();
        if (version == null || version.startsWith("<")) {
            return Finding.warn(
                    "flink-version",
                    "no Flink version found on the classpath",
                    "run with Flink's lib/ on the classpath or set FLINK_HOME");
        }
        if (!version.startsWith("2.")) {
            return Finding.warn(
                    "flink-version",
                    "Flink " + version + " on the classpath; this build targets 2.x",
                    "use the build for your Flink version");
        }
        return Finding.ok("flink-version", "Flink " + version + " on the classpath");
    }
}
