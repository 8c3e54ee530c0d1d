package io.github.resilientcheckpoints;

import java.time.Duration;
import java.util.List;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.description.Description;

/**
 * Every configuration key of Resilient Checkpoint Storage. All keys live under {@link #PREFIX}; the
 * checkpoint directory, inline threshold and write buffer are Flink's own keys ({@code
 * execution.checkpointing.dir}, {@code execution.checkpointing.data-inline-threshold}, {@code
 * execution.checkpointing.write-buffer-size}) and keep Flink's meaning.
 *
 * <p>Values are checked by {@code ResilientSettings.fromConfig} when the job starts; the table in
 * docs/configuration.md is generated from this class and a test fails when it is stale.
 */
public final class ResilientCheckpointOptions {

    public static final String PREFIX = "execution.checkpointing.resilient.";

    // ------------------------------------------------------------------ retries

    public static final ConfigOption<Integer> RETRY_MAX_ATTEMPTS =
            ConfigOptions.key(PREFIX + "retry.max-attempts")
                    .intType()
                    .defaultValue(10)
                    .withDescription(
                            "Upper bound on upload attempts for one state file (the first try"
                                    + " included), 1 to 1000. Whatever is left of the checkpoint"
                                    + " deadline bounds the attempts too: no attempt starts after it.");

    public static final ConfigOption<Duration> RETRY_INITIAL_BACKOFF =
            ConfigOptions.key(PREFIX + "retry.initial-backoff")
                    .durationType()
                    .defaultValue(Duration.ofMillis(100))
                    .withDescription(
                            "Backoff cap before the second attempt. The cap doubles with each further"
                                    + " attempt up to 'retry.max-backoff'; the actual wait is drawn"
                                    + " uniformly between zero and the cap (full jitter), so the"
                                    + " subtasks of one barrier do not retry in lock step.");

    public static final ConfigOption<Duration> RETRY_MAX_BACKOFF =
            ConfigOptions.key(PREFIX + "retry.max-backoff")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(10))
                    .withDescription(
                            "Largest backoff cap between two attempts; at least 'retry.initial-backoff'.");

    public static final ConfigOption<Duration> RETRY_ATTEMPT_TIMEOUT =
            ConfigOptions.key(PREFIX + "retry.attempt-timeout")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(3))
                    .withDescription(
                            "Longest time one upload attempt may take before it is abandoned and"
                                    + " retried under a new file name (a hung connection must not"
                                    + " eat the whole checkpoint). An attempt never runs past the"
                                    + " checkpoint deadline either. Raise it when single state files"
                                    + " are so large that uploading one takes longer.");

    public static final ConfigOption<Double> DEADLINE_FRACTION =
            ConfigOptions.key(PREFIX + "retry.deadline-fraction")
                    .doubleType()
                    .defaultValue(0.9)
                    .withDescription(
                            Description.builder()
                                    .text(
                                            "Share of '"
                                                    + CheckpointingOptions.CHECKPOINTING_TIMEOUT
                                                            .key()
                                                    + "' that uploads of"
                                                    + " one checkpoint may use, counted from the moment"
                                                    + " this TaskManager first sees the checkpoint. The"
                                                    + " rest is left for the acknowledgement and the"
                                                    + " metadata write. Between 0.1 and 1.0.")
                                    .build());

    // ------------------------------------------------------------------ upload runtime

    public static final ConfigOption<Integer> UPLOAD_THREADS =
            ConfigOptions.key(PREFIX + "upload.threads")
                    .intType()
                    .defaultValue(16)
                    .withDescription(
                            "Upload threads of the per-TaskManager runtime (daemon threads, created on"
                                    + " demand, shared by every job on the TaskManager that uses the"
                                    + " same value). Each attempt runs on one of them so that a hung"
                                    + " attempt can be timed out. 1 to 1024.");

    // ------------------------------------------------------------------ throttle

    public static final ConfigOption<MemorySize> THROTTLE_MAX_RATE =
            ConfigOptions.key(PREFIX + "throttle.max-rate")
                    .memoryType()
                    .defaultValue(MemorySize.MAX_VALUE)
                    .withDescription(
                            "Most bytes per second all checkpoint uploads of one TaskManager may send"
                                    + " together. Unlimited by default: no rate fits every store and"
                                    + " network, and a wrong one slows every checkpoint; the concurrency"
                                    + " limit below adapts to throttling either way. When set, the rate"
                                    + " is halved (by 'throttle.decrease-factor') on every throttle"
                                    + " signal from the store, down to 'throttle.min-rate', and climbs"
                                    + " back by a twentieth of the range per successful upload.");

    public static final ConfigOption<MemorySize> THROTTLE_MIN_RATE =
            ConfigOptions.key(PREFIX + "throttle.min-rate")
                    .memoryType()
                    .defaultValue(MemorySize.ofMebiBytes(1))
                    .withDescription(
                            "Lowest rate (bytes per second) throttle signals can push the limit to.");

    public static final ConfigOption<MemorySize> THROTTLE_BURST =
            ConfigOptions.key(PREFIX + "throttle.burst")
                    .memoryType()
                    .defaultValue(MemorySize.ofMebiBytes(8))
                    .withDescription(
                            "Bytes that may go out at once after an idle period, above the rate.");

    public static final ConfigOption<Integer> THROTTLE_MAX_CONCURRENT_UPLOADS =
            ConfigOptions.key(PREFIX + "throttle.max-concurrent-uploads")
                    .intType()
                    .defaultValue(16)
                    .withDescription(
                            "Most upload attempts in flight at once on one TaskManager (first come, first"
                                    + " served; waiting counts against the checkpoint deadline). Halved on"
                                    + " every throttle signal, down to 1, and raised by one per success.");

    public static final ConfigOption<Double> THROTTLE_DECREASE_FACTOR =
            ConfigOptions.key(PREFIX + "throttle.decrease-factor")
                    .doubleType()
                    .defaultValue(0.5)
                    .withDescription(
                            "Factor applied to the rate and the concurrency limit on a throttle signal"
                                    + " (503 SlowDown, 429, server busy); between 0.1 and 0.95.");

    // ------------------------------------------------------------------ spill

    public static final ConfigOption<List<String>> SPILL_DIRECTORIES =
            ConfigOptions.key(PREFIX + "spill.directories")
                    .stringType()
                    .asList()
                    .noDefaultValue()
                    .withDescription(
                            "Local directories where state larger than the inline threshold is staged"
                                    + " before upload, so that a failed upload can be resent. A new spill"
                                    + " file goes to the directory with the most room after floor and"
                                    + " reservations. Defaults to Flink's '"
                                    + CoreOptions.TMP_DIRS.key()
                                    + "'. Each must exist"
                                    + " or be creatable and writable. Spill files of crashed processes"
                                    + " found there are deleted at start.");

    public static final ConfigOption<MemorySize> SPILL_FLOOR =
            ConfigOptions.key(PREFIX + "spill.floor")
                    .memoryType()
                    .defaultValue(MemorySize.ofMebiBytes(512))
                    .withDescription(
                            "Free space our spill files never take a file system below (RocksDB"
                                    + " compactions and logs share these disks). The larger of this and"
                                    + " 'spill.floor-fraction' applies.");

    public static final ConfigOption<Double> SPILL_FLOOR_FRACTION =
            ConfigOptions.key(PREFIX + "spill.floor-fraction")
                    .doubleType()
                    .defaultValue(0.05)
                    .withDescription(
                            "Free share of each spill file system's size that our spill files never"
                                    + " take; 0.0 to 0.9.");

    public static final ConfigOption<MemorySize> SPILL_QUOTA =
            ConfigOptions.key(PREFIX + "spill.quota")
                    .memoryType()
                    .defaultValue(MemorySize.MAX_VALUE)
                    .withDescription(
                            "Most bytes all spill files of one TaskManager may hold together (reserved"
                                    + " and written). Unlimited by default: the floor already protects"
                                    + " each disk.");

    public static final ConfigOption<MemorySize> SPILL_RESERVATION_CHUNK =
            ConfigOptions.key(PREFIX + "spill.reservation-chunk")
                    .memoryType()
                    .defaultValue(MemorySize.ofMebiBytes(4))
                    .withDescription(
                            "Disk space a stream reserves at a time before writing into it. Larger chunks"
                                    + " take the reservation lock less often; smaller ones hold less"
                                    + " unused space per stream.");

    public static final ConfigOption<Duration> SPILL_PROBE_INTERVAL =
            ConfigOptions.key(PREFIX + "spill.probe-interval")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(1))
                    .withDescription(
                            "How old a directory's free-space reading may be before the next reservation"
                                    + " probes it again. Between probes, reservations and bytes written"
                                    + " are subtracted from the last reading.");

    public static final ConfigOption<SpillFallback> SPILL_FALLBACK =
            ConfigOptions.key(PREFIX + "spill.fallback")
                    .enumType(SpillFallback.class)
                    .defaultValue(SpillFallback.MEMORY)
                    .withDescription(
                            "What a stream does when no spill directory has room or its disk fills up"
                                    + " under it: MEMORY keeps the rest of the stream on the heap, within"
                                    + " 'spill.fallback.memory-budget', so the checkpoint still completes"
                                    + " and can still be retried; FAIL fails the checkpoint at once with a"
                                    + " message naming every directory, its free space and the floor."
                                    + " Bytes already spilled are kept and uploaded in both cases.");

    public static final ConfigOption<MemorySize> SPILL_FALLBACK_MEMORY_BUDGET =
            ConfigOptions.key(PREFIX + "spill.fallback.memory-budget")
                    .memoryType()
                    .defaultValue(MemorySize.ofMebiBytes(64))
                    .withDescription(
                            "Heap all streams of one TaskManager may hold together under the MEMORY"
                                    + " fallback. A stream that needs more fails (that checkpoint only).");

    // ------------------------------------------------------------------ cleanup

    public static final ConfigOption<Boolean> JANITOR_ENABLED =
            ConfigOptions.key(PREFIX + "cleanup.janitor.enabled")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "Sweep the job's checkpoint directory from the JobManager as checkpoints start:"
                                    + " aborted chk-N leftovers, and files in shared/ and taskowned/ that no"
                                    + " checkpoint with a _metadata references (of this job, or of any job"
                                    + " under the same root or 'cleanup.honoured-roots'), all older than"
                                    + " 'cleanup.grace'. Completed checkpoints are left to Flink. Off by"
                                    + " default: deleting is irreversible, so it is"
                                    + " switched on deliberately, after the offline command's dry run"
                                    + " showed what it would do.");

    public static final ConfigOption<Duration> CLEANUP_GRACE =
            ConfigOptions.key(PREFIX + "cleanup.grace")
                    .durationType()
                    .noDefaultValue()
                    .withDescription(
                            "Nothing younger is ever deleted. Default: the larger of 1 h and 3 x"
                                    + " '"
                                    + CheckpointingOptions.CHECKPOINTING_TIMEOUT.key()
                                    + "', so that no file of a checkpoint"
                                    + " that could still complete (or whose acknowledgement is in flight) is"
                                    + " touched. Must not be shorter than '"
                                    + CheckpointingOptions.CHECKPOINTING_TIMEOUT.key()
                                    + "'.");

    public static final ConfigOption<List<String>> CLEANUP_HONOURED_ROOTS =
            ConfigOptions.key(PREFIX + "cleanup.honoured-roots")
                    .stringType()
                    .asList()
                    .defaultValues()
                    .withDescription(
                            "Further checkpoint roots whose jobs' checkpoints the janitor honours: files they"
                                    + " reference are never deleted (e.g. this job was restored in CLAIM mode from"
                                    + " a checkpoint under another root). Job directories under the job's own"
                                    + " root are always read. Separate with ';'.");

    public static final ConfigOption<Duration> JANITOR_INTERVAL =
            ConfigOptions.key(PREFIX + "cleanup.janitor.interval")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(10))
                    .withDescription("Least time between two sweeps of one job's directory.");

    // ------------------------------------------------------------------ submission

    public static final ConfigOption<Boolean> PROBE_AT_SUBMISSION =
            ConfigOptions.key(PREFIX + "probe-at-submission")
                    .booleanType()
                    .defaultValue(true)
                    .withDescription(
                            "When the JobManager sets up a job's checkpoint storage, write one small probe"
                                    + " file under the job's checkpoint directory through the store and delete it"
                                    + " (retried like uploads, within '"
                                    + PREFIX
                                    + "probe-timeout'). If that fails (missing bucket or"
                                    + " directory, no permission, bad credentials) the job is refused at submission"
                                    + " with the store's message, instead of running and failing every checkpoint."
                                    + " Once per job start, on the JobManager only.");

    public static final ConfigOption<Duration> PROBE_TIMEOUT =
            ConfigOptions.key(PREFIX + "probe-timeout")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(30))
                    .withDescription(
                            "Longest the submission probe may take, retries included (between 1 s and"
                                    + " 5 min). It holds the JobManager's job-creation thread meanwhile. Not"
                                    + " tied to '"
                                    + CheckpointingOptions.CHECKPOINTING_TIMEOUT.key()
                                    + "': the probe is not a checkpoint, and a healthy store's first"
                                    + " write (a cold client, a busy JobManager) may take longer than a"
                                    + " short checkpoint timeout allows.");

    public static final ConfigOption<Duration> JOBMANAGER_MAX_BLOCKING =
            ConfigOptions.key(PREFIX + "jobmanager.max-blocking")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(5))
                    .withDescription(
                            "Longest the storage holds one of Flink's JobManager threads for one store"
                                    + " operation, retries included: writing a checkpoint's _metadata"
                                    + " (Flink holds the checkpoint coordinator's lock meanwhile, and a"
                                    + " cancel, stop or failover waits for that lock) and creating a"
                                    + " checkpoint's directory (on the 'Checkpoint Timer' thread). When it"
                                    + " passes, that checkpoint fails and the next one tries again. Never"
                                    + " more than the checkpoint's own deadline. 100 ms to 1 min.");

    // ------------------------------------------------------------------ fault injection

    public static final ConfigOption<Double> FAULT_INJECTION_TRANSIENT_RATIO =
            ConfigOptions.key(PREFIX + "fault-injection.transient-failure-ratio")
                    .doubleType()
                    .defaultValue(0.0)
                    .withDescription(
                            "Drill setting: share (0.0 to 0.9) of upload attempts that fail with an"
                                    + " injected transient error before they reach the store. Use it to"
                                    + " watch retries work (the demo does); keep it 0 in production.");

    public static final ConfigOption<Double> FAULT_INJECTION_THROTTLED_RATIO =
            ConfigOptions.key(PREFIX + "fault-injection.throttled-failure-ratio")
                    .doubleType()
                    .defaultValue(0.0)
                    .withDescription(
                            "Drill setting: share (0.0 to 0.9) of upload attempts that fail with an"
                                    + " injected '503 SlowDown' before they reach the store, to watch the"
                                    + " throttle slow down and recover; keep it 0 in production.");

    private ResilientCheckpointOptions() {}
}
