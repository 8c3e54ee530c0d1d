package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillLimits;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;

/**
 * {@code spill}: each spill directory ({@code spill.directories}, else {@code io.tmp.dirs}) can be
 * created, its free space against the floor, and all of them against {@code spill.quota}.
 */
final class SpillCheck implements PreflightCheck {

    private final Configuration conf;
    private final FreeSpaceProbe probe;

    SpillCheck(Configuration conf, FreeSpaceProbe probe) {
        this.conf = conf;
        this.probe = probe;
    }

    /** Each spill directory's free space against the floor, and all of them against the quota. */
    @Override
    public List<Finding> run() {
        List<Finding> findings = new ArrayList<>();
        // The storage's own reading: our key, else Flink's io.tmp.dirs; blank entries dropped.
        List<String> configured = conf.get(ResilientCheckpointOptions.SPILL_DIRECTORIES);
        String key =
                configured == null || configured.isEmpty()
                        ? CoreOptions.TMP_DIRS.key()
                        : ResilientCheckpointOptions.SPILL_DIRECTORIES.key();
        List<String> dirs = SpillLimits.directories(conf);
        SpillLimits limits = SpillLimits.fromConfig(conf);
        long room = 0;
        for (String raw : dirs) {
            Path dir = Paths.get(raw).toAbsolutePath();
            Path existing = dir;
            while (existing != null && !Files.exists(existing)) {
                existing = existing.getParent();
            }
            if (existing == null || !Files.isDirectory(existing) || !Files.isWritable(existing)) {
                findings.add(
                        Finding.fail(
                                "spill",
                                dir
                                        + " (from "
                                        + key
                                        + ") cannot be created: "
                                        + (existing == null
                                                ? "no existing parent"
                                                : existing + " is not a writable directory"),
                                key + ": a local directory the Flink user can write"));
                continue;
            }
            long usable;
            long total;
            try {
                usable = probe.usableBytes(existing);
                total = probe.totalBytes(existing);
            } catch (IOException e) {
                findings.add(
                        Finding.fail(
                                "spill",
                                "cannot read the free space of " + dir + ": " + e.getMessage(),
                                key + ": a local directory the Flink user can write"));
                continue;
            }
            long floor = limits.floorFor(total); // the storage's own rule
            long headroom = usable - floor;
            String numbers =
                    String.format(
                            "%s: %s free of %s, floor %s",
                            dir, Units.bytes(usable), Units.bytes(total), Units.bytes(floor));
            if (headroom < limits.chunkBytes()) {
                findings.add(
                        Finding.fail(
                                "spill",
                                numbers
                                        + ": below the floor, nothing spills here (streams fall back"
                                        + " to "
                                        + (limits.fallback() == SpillFallback.MEMORY
                                                ? "memory, up to "
                                                        + Units.bytes(limits.memoryBudgetBytes())
                                                : "failing the checkpoint")
                                        + ")",
                                "free space on that disk, point "
                                        + key
                                        + " at a larger one, or lower "
                                        + ResilientCheckpointOptions.SPILL_FLOOR.key()
                                        + " / "
                                        + ResilientCheckpointOptions.SPILL_FLOOR_FRACTION.key()));
            } else {
                room += headroom;
                findings.add(
                        Finding.ok(
                                "spill",
                                numbers + ", " + Units.bytes(headroom) + " usable for spill"));
            }
        }
        if (room > 0 && limits.quotaBytes() != Long.MAX_VALUE && room < limits.quotaBytes()) {
            findings.add(
                    Finding.warn(
                            "spill",
                            "the spill directories have "
                                    + Units.bytes(room)
                                    + " above their floors,"
                                    + " less than "
                                    + ResilientCheckpointOptions.SPILL_QUOTA.key()
                                    + " "
                                    + Units.bytes(limits.quotaBytes()),
                            ResilientCheckpointOptions.SPILL_QUOTA.key()
                                    + ": "
                                    + Units.bytes(room)
                                    + " (or add a disk)"));
        }
        return findings;
    }
}
