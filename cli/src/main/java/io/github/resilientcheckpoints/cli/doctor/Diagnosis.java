package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.cli.doctor.Cause.Kind;
import io.github.resilientcheckpoints.cli.doctor.JobStats.Checkpoint;
import io.github.resilientcheckpoints.cli.doctor.JobStats.Subtask;
import io.github.resilientcheckpoints.cli.doctor.JobStats.Vertex;
import io.github.resilientcheckpoints.s3.S3StoreOptions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.configuration.CheckpointingOptions;

/**
 * The cause rules of {@code doctor diagnose}: pure functions of the parsed statistics. Every failed
 * checkpoint, and every completed one slower than the threshold, gets exactly one cause — the first
 * rule that holds, most specific first:
 *
 * <ol>
 *   <li>the failure message says the store refused (permissions, missing bucket or directory);
 *   <li>the failure message says a local disk had no room;
 *   <li>the slowest acknowledged subtask spent most of its time (at least {@link #PHASE_FLOOR_MS})
 *       in one phase: waiting for barriers (backpressure or skew), the synchronous snapshot, or the
 *       asynchronous upload (store slow or throttling); a failure message about throttling or our
 *       upload deadline also names the store;
 *   <li>it expired, or came within a quarter of the timeout, with no phase out of line: the timeout
 *       is too short for what the job measurably needs;
 *   <li>otherwise it is reported as unexplained, with its numbers.
 * </ol>
 *
 * <p>One rule looks at the whole history: state that grew in each of the last checkpoints. Our
 * counters (summed over TaskManagers, since each started) are evidence only, never a trigger: they
 * are per TaskManager, not per job.
 */
public final class Diagnosis {

    /** A phase must take at least this long to be named as the cause. */
    static final long PHASE_FLOOR_MS = 500;

    /** ... and at least this share of the slowest subtask's time. */
    static final double PHASE_SHARE = 0.5;

    /** A subtask whose barrier wait is this many times its peers' median is "far behind". */
    static final double SKEW_FACTOR = 4.0;

    /** Completed checkpoints that take this share of the timeout leave it too little headroom. */
    static final double NEAR_TIMEOUT = 0.5;

    /**
     * A failed checkpoint this close to the timeout ran out of time (our uploads stop at 0.9 of
     * it).
     */
    static final double RAN_OUT = 0.8;

    /** Completed checkpoints the growth rule needs, and by how much the state must have grown. */
    static final int GROWTH_WINDOW = 5;

    static final double GROWTH_FACTOR = 1.5;

    private static final Pattern REFUSING =
            Pattern.compile(
                    "access ?denied|permission denied|forbidden|nosuchbucket|no such bucket|bucket does not exist"
                            + "|invalidaccesskeyid|signaturedoesnotmatch|not authori[sz]ed|read-only file system"
                            + "|not a directory|filenotfound|no such file|does not exist|permanent");
    private static final Pattern DISK =
            Pattern.compile(
                    "no space left|disk quota exceeded|not enough space|no spill directory|cannot use the spill"
                            + "|spill director");
    private static final Pattern STORE =
            Pattern.compile("slowdown|slow down|throttl|503|429|deadline|upload budget");
    private static final Pattern FINALIZE = Pattern.compile("finali[sz]e");
    private static final Pattern EXPIRED = Pattern.compile("expired|timed out|timeout");
    private static final Pattern PATH =
            Pattern.compile("([a-z][a-z0-9+.-]*://\\S+|(?<![\\w])/[\\w./-]+)");

    private static final String TIMEOUT_KEY = CheckpointingOptions.CHECKPOINTING_TIMEOUT.key();

    private final long slowMs;

    /**
     * @param slow completed checkpoints at least this long count as slow; null: half the job's
     *     timeout
     */
    public Diagnosis(Duration slow) {
        this.slowMs = slow == null ? -1 : slow.toMillis();
    }

    /** The threshold for a job: the given one, or half its timeout. */
    long slowThresholdMs(JobStats job) {
        return slowMs >= 0 ? slowMs : job.timeoutMs() / 2;
    }

    /** The causes, one per failed or slow checkpoint (oldest first), then the history-wide ones. */
    public List<Cause> causes(JobStats job) {
        List<Cause> causes = new ArrayList<>();
        long slow = slowThresholdMs(job);
        for (Checkpoint c : job.checkpoints()) {
            if (c.savepoint()) {
                continue;
            }
            if (c.failed() || (c.completed() && c.endToEndMs() >= slow)) {
                causes.add(explain(job, c));
            }
        }
        Cause growth = stateGrowth(job);
        if (growth != null) {
            causes.add(growth);
        }
        return causes;
    }

    Cause explain(JobStats job, Checkpoint c) {
        String message = c.failureMessage() == null ? "" : c.failureMessage();
        String lower = message.toLowerCase(Locale.ROOT);
        boolean failed = c.failed();
        String what = failed ? "failed after " + ms(c.endToEndMs()) : "took " + ms(c.endToEndMs());
        if (failed && REFUSING.matcher(lower).find()) {
            String path = firstPath(message);
            return new Cause(
                    Kind.STORE_REFUSING,
                    c.id(),
                    true,
                    what
                            + ": "
                            + shorten(message)
                            + counters(job, "failuresPermanent", "metadataWriteFailures"),
                    "make "
                            + (path == null ? "the checkpoint directory" : path)
                            + " writable with the job's"
                            + " credentials (create the bucket or directory; grant put/get/delete), or set "
                            + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                            + " to a location that is; check with"
                            + " 'doctor check'");
        }
        if (failed && DISK.matcher(lower).find()) {
            return new Cause(
                    Kind.LOCAL_DISK,
                    c.id(),
                    true,
                    what
                            + ": "
                            + shorten(message)
                            + counters(
                                    job,
                                    "spillFallbacksNoSpace",
                                    "spillFallbacksWriteFailed",
                                    "spillFailures",
                                    "memoryFallbackBytes"),
                    ResilientCheckpointOptions.SPILL_DIRECTORIES.key()
                            + ": add a directory on a disk with room"
                            + " (or "
                            + ResilientCheckpointOptions.SPILL_FALLBACK.key()
                            + ": MEMORY)");
        }
        boolean ranOut =
                failed
                        && (EXPIRED.matcher(lower).find()
                                || c.endToEndMs() >= RAN_OUT * job.timeoutMs());
        if (failed && !ranOut && FINALIZE.matcher(lower).find()) {
            // Flink's message drops the cause; a _metadata write that failed well before the
            // deadline
            // was refused (or failed on every attempt): a slow store would have been retried until
            // it.
            String root = job.lastCompletedPath() == null ? null : parent(job.lastCompletedPath());
            return new Cause(
                    Kind.STORE_REFUSING,
                    c.id(),
                    true,
                    what
                            + " of "
                            + TIMEOUT_KEY
                            + " "
                            + ms(job.timeoutMs())
                            + ": '"
                            + shorten(message)
                            + "': the JobManager could not write the"
                            + " checkpoint's _metadata"
                            + (root == null ? "" : " under " + root)
                            + " and gave up long"
                            + " before the deadline, so the store refused it or failed every attempt"
                            + counters(
                                    job,
                                    "metadataWriteFailures",
                                    "metadataRetries",
                                    "failuresPermanent"),
                    "make "
                            + (root == null ? "the checkpoint directory" : root)
                            + " writable for the JobManager"
                            + " with the job's credentials (create the bucket or directory; grant put/get/delete);"
                            + " check with 'doctor check'");
        }
        Located slowest = slowest(c);
        if (slowest != null) {
            Subtask s = slowest.subtask();
            long barrier = s.barrierMs();
            long dominant = Math.max(barrier, Math.max(s.syncMs(), s.asyncMs()));
            if (dominant >= PHASE_FLOOR_MS && dominant >= PHASE_SHARE * s.endToEndMs()) {
                String where =
                        slowest.vertex().name()
                                + " #"
                                + s.index()
                                + " ("
                                + ms(s.endToEndMs())
                                + " in all)";
                if (dominant == barrier) {
                    return barrierDelay(job, c, what, slowest, where);
                }
                if (dominant == s.asyncMs()) {
                    return storeSlow(
                            job,
                            c,
                            what + "; async (upload) phase " + ms(s.asyncMs()) + " on " + where);
                }
                return new Cause(
                        Kind.SNAPSHOT_SLOW,
                        c.id(),
                        failed,
                        what
                                + "; synchronous snapshot "
                                + ms(s.syncMs())
                                + " on "
                                + where
                                + ": the task thread was busy snapshotting (CPU or memory pressure)",
                        fullSnapshots(c)
                                ? CheckpointingOptions.INCREMENTAL_CHECKPOINTS.key() + ": true"
                                : "taskmanager.numberOfTaskSlots: fewer slots per TaskManager (more CPU per snapshot)");
            }
        }
        if (failed && STORE.matcher(lower).find()) {
            return storeSlow(job, c, what + ": " + shorten(message));
        }
        if (ranOut || (c.completed() && c.endToEndMs() >= NEAR_TIMEOUT * job.timeoutMs())) {
            long needed = measuredNeed(job, c);
            return new Cause(
                    Kind.TIMEOUT_TOO_SHORT,
                    c.id(),
                    failed,
                    what
                            + " with "
                            + TIMEOUT_KEY
                            + " "
                            + ms(job.timeoutMs())
                            + "; completed checkpoints took up to "
                            + ms(needed)
                            + (slowest == null
                                    ? ""
                                    : "; no phase out of line (slowest subtask: barrier "
                                            + ms(slowest.subtask().barrierMs())
                                            + ", sync "
                                            + ms(slowest.subtask().syncMs())
                                            + ", async "
                                            + ms(slowest.subtask().asyncMs())
                                            + ")")
                            + (failed ? ": " + shorten(message) : ""),
                    TIMEOUT_KEY + ": " + suggestTimeout(Math.max(needed, job.timeoutMs())));
        }
        return new Cause(
                Kind.UNEXPLAINED,
                c.id(),
                failed,
                what
                        + (message.isEmpty() ? "" : ": " + shorten(message))
                        + (slowest == null
                                ? "; no subtask acknowledged"
                                : "; slowest subtask "
                                        + slowest.vertex().name()
                                        + " #"
                                        + slowest.subtask().index()
                                        + ": barrier "
                                        + ms(slowest.subtask().barrierMs())
                                        + ", sync "
                                        + ms(slowest.subtask().syncMs())
                                        + ", async "
                                        + ms(slowest.subtask().asyncMs())),
                "read the JobManager and TaskManager logs around checkpoint " + c.id());
    }

    private Cause barrierDelay(
            JobStats job, Checkpoint c, String what, Located slowest, String where) {
        Subtask s = slowest.subtask();
        List<Long> peers = new ArrayList<>();
        for (Subtask other : slowest.vertex().subtasks()) {
            if (other.acknowledged() && other.index() != s.index()) {
                peers.add(other.barrierMs());
            }
        }
        String evidence =
                what
                        + "; barrier wait "
                        + ms(s.barrierMs())
                        + " (start delay "
                        + ms(s.startDelayMs())
                        + ", alignment "
                        + ms(s.alignmentMs())
                        + ") on "
                        + where;
        if (!peers.isEmpty()) {
            long median = median(peers);
            if (s.barrierMs() >= SKEW_FACTOR * Math.max(median, 50)) {
                evidence +=
                        "; its "
                                + peers.size()
                                + " peers waited "
                                + ms(median)
                                + " (median): one subtask far"
                                + " behind, skew";
            } else {
                evidence += "; its peers waited " + ms(median) + " (median): backpressure";
            }
        } else {
            evidence += ": backpressure";
        }
        String fix =
                job.unaligned()
                        ? "taskmanager.network.memory.buffer-debloat.enabled: true"
                        : CheckpointingOptions.ENABLE_UNALIGNED.key() + ": true";
        return new Cause(Kind.BARRIER_DELAY, c.id(), c.failed(), evidence, fix);
    }

    private Cause storeSlow(JobStats job, Checkpoint c, String evidence) {
        String more =
                counters(
                        job,
                        "uploadRetries",
                        "failuresThrottled",
                        "throttleSignals",
                        "throttleWaitMillis",
                        "failuresTransient",
                        "attemptTimeouts",
                        "deadlineExceeded");
        boolean throttled =
                job.counter("failuresThrottled") > 0 || job.counter("throttleSignals") > 0;
        String fix;
        if (throttled) {
            long limit = job.counters().getOrDefault("throttleConcurrencyLimit", 0L);
            if (limit == 1) {
                fix =
                        S3StoreOptions.ENTROPY_KEY.key()
                                + ": _entropy_, with _entropy_ in "
                                + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                                + " (the store throttles even one upload at a time; S3 limits requests per prefix)";
            } else {
                long lower = limit > 1 && limit < 4096 ? limit / 2 : 8;
                fix =
                        ResilientCheckpointOptions.THROTTLE_MAX_CONCURRENT_UPLOADS.key()
                                + ": "
                                + lower
                                + " (fewer requests at once stop the store's throttling sooner)";
            }
        } else if (fullSnapshots(c)) {
            fix =
                    CheckpointingOptions.INCREMENTAL_CHECKPOINTS.key()
                            + ": true (upload only what changed)";
        } else {
            fix =
                    TIMEOUT_KEY
                            + ": "
                            + suggestTimeout(Math.max(c.endToEndMs(), job.timeoutMs()))
                            + " (the store needs this long; or a faster store)";
        }
        return new Cause(Kind.STORE_SLOW, c.id(), c.failed(), evidence + more, fix);
    }

    /**
     * State size rose in each of the last completed checkpoints, by at least {@link
     * #GROWTH_FACTOR}.
     */
    Cause stateGrowth(JobStats job) {
        List<Checkpoint> completed =
                job.checkpoints().stream()
                        .filter(c -> c.completed() && !c.savepoint())
                        .sorted(Comparator.comparingLong(Checkpoint::id))
                        .toList();
        if (completed.size() < GROWTH_WINDOW) {
            return null;
        }
        for (int i = 1; i < completed.size(); i++) {
            if (completed.get(i).stateSize() <= completed.get(i - 1).stateSize()) {
                return null;
            }
        }
        Checkpoint first = completed.get(0);
        Checkpoint last = completed.get(completed.size() - 1);
        if (first.stateSize() <= 0 || last.stateSize() < GROWTH_FACTOR * first.stateSize()) {
            return null;
        }
        String evidence =
                String.format(
                        Locale.ROOT,
                        "state size rose in each of the last %d checkpoints (%d to %d):"
                                + " %s to %s (x%.1f)",
                        completed.size(),
                        first.id(),
                        last.id(),
                        Units.bytes(first.stateSize()),
                        Units.bytes(last.stateSize()),
                        (double) last.stateSize() / first.stateSize());
        String fix =
                fullSnapshots(last)
                        ? CheckpointingOptions.INCREMENTAL_CHECKPOINTS.key()
                                + ": true (each checkpoint then uploads only"
                                + " what changed); and a state TTL on the growing state"
                        : "table.exec.state.ttl: 1 d (SQL), or StateTtlConfig on the growing state (DataStream)";
        return new Cause(Kind.STATE_GROWTH, -1, false, evidence, fix);
    }

    /** The longest end-to-end time of the completed checkpoints, or of what this one measured. */
    private static long measuredNeed(JobStats job, Checkpoint c) {
        long max = c.endToEndMs();
        for (Checkpoint other : job.checkpoints()) {
            if (other.completed()) {
                max = Math.max(max, other.endToEndMs());
            }
        }
        return max;
    }

    /** Three times what was needed, at least a minute, rounded up to a whole minute. */
    static String suggestTimeout(long neededMs) {
        long minutes = Math.max(1, (3 * neededMs + 59_999) / 60_000);
        return minutes + " min";
    }

    private static boolean fullSnapshots(Checkpoint c) {
        return c.stateSize() > 0 && c.checkpointedSize() >= c.stateSize();
    }

    private record Located(Vertex vertex, Subtask subtask) {}

    private static Located slowest(Checkpoint c) {
        Located best = null;
        for (Vertex v : c.vertices()) {
            for (Subtask s : v.subtasks()) {
                if (s.acknowledged()
                        && (best == null || s.endToEndMs() > best.subtask().endToEndMs())) {
                    best = new Located(v, s);
                }
            }
        }
        return best;
    }

    private static long median(List<Long> values) {
        List<Long> sorted = new ArrayList<>(values);
        sorted.sort(null);
        return sorted.get(sorted.size() / 2);
    }

    private static String counters(JobStats job, String... names) {
        Map<String, Long> present = new LinkedHashMap<>();
        for (String name : names) {
            if (job.counter(name) > 0) {
                present.put(name, job.counter(name));
            }
        }
        if (present.isEmpty()) {
            return "";
        }
        StringBuilder sb = new StringBuilder("; since TaskManager start:");
        present.forEach((k, v) -> sb.append(' ').append(k).append(' ').append(v));
        return sb.toString();
    }

    private static String parent(String path) {
        int slash = path.replaceAll("/+$", "").lastIndexOf('/');
        return slash > 0 ? path.substring(0, slash) : path;
    }

    private static String firstPath(String message) {
        Matcher m = PATH.matcher(message);
        return m.find() ? m.group(1).replaceAll("[.,:;'\")]+$", "") : null;
    }

    private static String shorten(String message) {
        String oneLine = message.replaceAll("\\s+", " ").trim();
        return oneLine.length() <= 300 ? oneLine : oneLine.substring(0, 297) + "...";
    }

    static String ms(long millis) {
        return millis >= 10_000
                ? String.format(Locale.ROOT, "%.1f s", millis / 1000.0)
                : millis + " ms";
    }
}
