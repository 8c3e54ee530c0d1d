package io.github.resilientcheckpoints.hdfs;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.apache.flink.annotation.VisibleForTesting;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.QuotaUsage;

/**
 * The space and namespace quotas above the directories a store writes to, read at most once per
 * interval per job directory and charged with what the store wrote since, so that a file that
 * cannot fit fails before it is written.
 */
final class HdfsQuotas {

    private static final Pattern CHECKPOINT_DIRECTORY = Pattern.compile("chk-\\d+");

    private final FileSystem fs;
    private final long checkIntervalNanos;
    private final Ticker ticker;

    /** Views by {@link #quotaRoot job directory}; bounded, and dropped when no job uses them. */
    private final Cache<Path, View> views;

    HdfsQuotas(FileSystem fs, Duration checkInterval, Ticker ticker, int maxDirectories) {
        this.fs = fs;
        this.checkIntervalNanos = checkInterval.toNanos();
        this.ticker = ticker;
        this.views =
                Caffeine.newBuilder()
                        .maximumSize(maxDirectories)
                        .expireAfterAccess(Duration.ofHours(1))
                        .executor(Runnable::run)
                        .build();
    }

    /**
     * Checks the quotas of the directory's {@link #quotaRoot} and its ancestors, refreshed at most
     * every interval.
     *
     * @return the view to {@link View#charge} once the bytes are written
     * @throws QuotaHeadroomException naming the directory, its quota and use
     */
    View check(Path directory, long bytesWithReplicas) throws IOException {
        Path root = quotaRoot(directory);
        View view = views.getIfPresent(root);
        if (view == null || ticker.nanoTime() - view.checkedAt >= checkIntervalNanos) {
            view = read(root);
            views.put(root, view);
        }
        view.check(bytesWithReplicas);
        return view;
    }

    /**
     * Where quotas are read from for files of {@code directory}: a {@code chk-N} directory is new
     * for every checkpoint and made by Flink just before it is written, so nobody has set a quota
     * on it; its job directory (and that one's ancestors) is what bounds it. Keying by the job
     * directory keeps one view per job instead of one per checkpoint, and charges every
     * checkpoint's uploads to the same view. Other directories ({@code shared}, {@code taskowned},
     * savepoint directories) are their own root.
     */
    static Path quotaRoot(Path directory) {
        Path parent = directory.getParent();
        return parent != null && CHECKPOINT_DIRECTORY.matcher(directory.getName()).matches()
                ? parent
                : directory;
    }

    @VisibleForTesting
    long cacheSize() {
        views.cleanUp();
        return views.estimatedSize();
    }

    private View read(Path directory) throws IOException {
        List<Limit> limits = new ArrayList<>();
        for (Path p = directory; p != null; p = p.getParent()) {
            try {
                QuotaUsage usage = fs.getQuotaUsage(p);
                if (usage.getSpaceQuota() >= 0 || usage.getQuota() >= 0) {
                    limits.add(
                            new Limit(
                                    p,
                                    usage.getSpaceQuota(),
                                    usage.getSpaceConsumed(),
                                    usage.getQuota(),
                                    usage.getFileAndDirectoryCount()));
                }
            } catch (FileNotFoundException notYetCreated) {
                // chk-N may not exist yet; its ancestors still bound it
            }
        }
        return new View(ticker.nanoTime(), limits);
    }

    private record Limit(
            Path directory, long spaceQuota, long spaceConsumed, long nsQuota, long nsCount) {}

    /** Quotas as last read, minus what this store has written since. */
    static final class View {
        final long checkedAt;
        final List<Limit> limits;
        long chargedSinceCheck;

        View(long checkedAt, List<Limit> limits) {
            this.checkedAt = checkedAt;
            this.limits = limits;
        }

        synchronized void check(long bytesWithReplicas) throws QuotaHeadroomException {
            for (Limit l : limits) {
                if (l.spaceQuota() >= 0) {
                    long free = l.spaceQuota() - l.spaceConsumed() - chargedSinceCheck;
                    if (bytesWithReplicas > free) {
                        throw new QuotaHeadroomException(
                                String.format(
                                        "A checkpoint file of %d bytes (with replicas) cannot fit under the HDFS"
                                                + " space quota of '%s': quota %d bytes, used %d, free %d. Raise the"
                                                + " quota (hdfs dfsadmin -setSpaceQuota) or delete old checkpoints.",
                                        bytesWithReplicas,
                                        l.directory(),
                                        l.spaceQuota(),
                                        l.spaceConsumed() + chargedSinceCheck,
                                        Math.max(0, free)));
                    }
                }
                if (l.nsQuota() >= 0 && l.nsQuota() - l.nsCount() < 2) {
                    throw new QuotaHeadroomException(
                            String.format(
                                    "No name left under the HDFS namespace quota of '%s': quota %d names, used %d."
                                            + " Raise the quota (hdfs dfsadmin -setQuota) or delete old checkpoints.",
                                    l.directory(), l.nsQuota(), l.nsCount()));
                }
            }
        }

        synchronized void charge(long bytesWithReplicas) {
            chargedSinceCheck += bytesWithReplicas;
        }
    }
}
