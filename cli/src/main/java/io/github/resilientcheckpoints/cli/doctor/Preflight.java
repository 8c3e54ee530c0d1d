package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.upload.Redactor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.Configuration;

/**
 * {@code doctor check}: everything that can be known before a job runs, one check class per
 * concern, run in the order an operator fixes things. The configuration rules are the storage's
 * own; the store is reached through the same {@code CheckpointStores} the TaskManagers use.
 */
public final class Preflight {

    private final Configuration conf;
    private final Path lib;
    private final Path plugins;
    private final Path jar;
    private final FreeSpaceProbe probe;
    private final Redactor redactor;

    /**
     * @param conf the effective configuration (config.yaml and {@code -D} options)
     * @param lib the Flink distribution's {@code lib/}, or null when no distribution is known
     * @param plugins its plugins directory ({@code InstallLayout.pluginsDir}), or null
     * @param jar where this code runs from (a jar or a classes directory)
     * @param probe free-space readings of spill directories
     */
    public Preflight(Configuration conf, Path lib, Path plugins, Path jar, FreeSpaceProbe probe) {
        this.conf = conf;
        this.lib = lib;
        this.plugins = plugins;
        this.jar = jar;
        this.probe = probe;
        this.redactor = Redactor.fromConfig(conf);
    }

    /** Every check, in the order an operator fixes things. */
    public List<Finding> run() {
        List<Finding> findings = new ArrayList<>();
        findings.addAll(new FlinkVersionCheck().run());
        findings.addAll(new JarPlacementCheck(lib, plugins, jar).run());
        List<Finding> keys = new ConfigKeysCheck(conf, redactor).run();
        findings.addAll(keys);
        findings.addAll(new FlinkKeysCheck(conf, redactor).run());
        findings.addAll(new TimeoutCheck(conf, redactor).run());
        boolean configValid = keys.stream().noneMatch(f -> f.level() == Finding.Level.FAIL);
        if (configValid) {
            findings.addAll(new CheckpointRootCheck(conf, redactor).run());
            findings.addAll(new SpillCheck(conf, probe).run());
        } else {
            findings.add(
                    Finding.warn(
                            "checkpoint-root",
                            "not probed: the configuration above is invalid",
                            "fix the FAIL lines, then run doctor check again"));
        }
        return findings;
    }
}
