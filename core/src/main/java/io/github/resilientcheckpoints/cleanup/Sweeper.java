package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.SupportsBatchDelete;
import io.github.resilientcheckpoints.store.SupportsPendingUploads;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Carries out a {@link SweepPlan}: batched deletes through the store, aborts, one log line. */
public final class Sweeper {

    private static final Logger LOG = LoggerFactory.getLogger(Sweeper.class);
    static final int BATCH = 1000;

    private final CheckpointStore store;
    private final StorageMetrics metrics;

    public Sweeper(CheckpointStore store, StorageMetrics metrics) {
        this.store = store;
        this.metrics = metrics;
    }

    /** What a sweep did. */
    public record Result(
            long filesDeleted, long bytesDeleted, List<Path> failed, int uploadsAborted) {}

    public Result execute(String what, SweepPlan plan) {
        Map<String, Long> sizes = new HashMap<>();
        List<Path> paths = new ArrayList<>();
        for (SweepPlan.Orphan o : plan.orphans()) {
            paths.add(o.file().path());
            sizes.put(o.file().path().toString(), o.file().size());
        }
        List<Path> failed = new ArrayList<>();
        for (int from = 0; from < paths.size(); from += BATCH) {
            List<Path> batch = paths.subList(from, Math.min(paths.size(), from + BATCH));
            try {
                Optional<SupportsBatchDelete> bulk = store.capability(SupportsBatchDelete.class);
                failed.addAll(
                        bulk.isPresent()
                                ? bulk.get().deleteAll(batch)
                                : SupportsBatchDelete.deleteEach(store, batch));
            } catch (IOException | RuntimeException e) {
                LOG.warn("Deleting {} orphans of {} failed: {}", batch.size(), what, e.toString());
                failed.addAll(batch);
            }
        }
        int aborted = 0;
        Optional<SupportsPendingUploads> pending = store.capability(SupportsPendingUploads.class);
        if (pending.isPresent()) {
            for (SupportsPendingUploads.PendingUpload u : plan.pendingUploads()) {
                try {
                    pending.get().abortPendingUpload(u);
                    aborted++;
                } catch (IOException | RuntimeException e) {
                    LOG.warn(
                            "Could not abort pending upload {} of {}: {}",
                            u.uploadId(),
                            u.path(),
                            e.toString());
                }
            }
        }
        removeEmptyCheckpointDirectories(plan);
        long deleted = paths.size() - failed.size();
        long bytes = 0;
        for (Path p : paths) {
            if (!failed.contains(p)) {
                bytes += sizes.get(p.toString());
            }
        }
        metrics.sweep(deleted, bytes, plan.errors().size());
        LOG.info(
                "Checkpoint sweep of {}: {} orphaned files ({} bytes) found, {} deleted ({} bytes), {} failed,"
                        + " {} pending uploads aborted; kept {} files ({} bytes, {} only for being younger than"
                        + " the grace period); {} jobs not swept{}",
                what,
                paths.size(),
                plan.orphanBytes(),
                deleted,
                bytes,
                failed.size(),
                aborted,
                plan.keptFiles(),
                plan.keptBytes(),
                plan.keptYoung(),
                plan.errors().size(),
                plan.errors().isEmpty() ? "" : ": " + plan.errors());
        return new Result(deleted, bytes, failed, aborted);
    }

    /** File systems with real directories keep empty chk-N directories; remove those we emptied. */
    private static void removeEmptyCheckpointDirectories(SweepPlan plan) {
        TreeSet<String> dirs = new TreeSet<>();
        for (SweepPlan.Orphan o : plan.orphans()) {
            Path parent = o.file().path().getParent();
            if (parent != null && CheckpointLayout.isCheckpointDir(parent.getName())) {
                dirs.add(parent.toString());
            }
        }
        for (String dir : dirs) {
            try {
                FileSystem fs = Locations.fileSystem(new Path(dir));
                Path p = Locations.onFileSystem(new Path(dir), fs);
                if (fs.exists(p) && fs.listStatus(p).length == 0) {
                    fs.delete(p, false);
                }
            } catch (IOException | RuntimeException e) {
                LOG.debug("Could not remove empty directory {}", dir, e);
            }
        }
    }
}
