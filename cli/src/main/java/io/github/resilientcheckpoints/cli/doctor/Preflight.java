package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.storage.ResilientSettings;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.upload.Redactor;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.FallbackKey;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.apache.flink.util.TimeUtils;

/**
 * {@code doctor check}: everything that can be known before a job runs, each finding one line with
 * the fix. The configuration rules are the storage's own ({@link ResilientSettings#fromConfig});
 * the store is reached through the same {@link CheckpointStores} the TaskManagers use, so the S3
 * and HDFS adapters (when on the classpath) answer with the configured credentials.
 */
public final class Preflight {

    /**
     * Option classes whose keys are ours; the adapters' are looked up by name (they may be absent).
     */
    static final List<String> OPTION_CLASSES =
            List.of(
                    ResilientCheckpointOptions.class.getName(),
                    "io.github.resilientcheckpoints.s3.S3StoreOptions",
                    "io.github.resilientcheckpoints.hdfs.HdfsStoreOptions");

    static final String FACTORY = ResilientCheckpointStorageFactory.class.getName();

    private final Configuration conf;
    private final Path distribution;
    private final Path jar;
    private final FreeSpaceProbe probe;
    private final Redactor redactor;

    /**
     * @param conf the effective configuration (config.yaml and {@code -D} options)
     * @param distribution the Flink distribution whose {@code lib/} and {@code plugins/} to
     *     inspect, or null
     * @param jar where this code runs from (a jar or a classes directory)
     * @param probe free-space readings of spill directories
     */
    public Preflight(Configuration conf, Path distribution, Path jar, FreeSpaceProbe probe) {
        this.conf = conf;
        this.distribution = distribution;
        this.jar = jar;
        this.probe = probe;
        this.redactor = Redactor.fromConfig(conf);
    }

    /** Every check, in the order an operator fixes things. */
    public List<Finding> run() {
        List<Finding> findings = new ArrayList<>();
        findings.add(flinkVersion());
        findings.addAll(jarPlacement());
        List<Finding> keys = ourKeys();
        findings.addAll(keys);
        findings.addAll(flinkKeys());
        boolean configValid = keys.stream().noneMatch(f -> f.level() == Finding.Level.FAIL);
        if (configValid) {
            findings.add(checkpointRoot());
            findings.addAll(spillDirectories());
        } else {
            findings.add(
                    Finding.warn(
                            "checkpoint-root",
                            "not probed: the configuration above is invalid",
                            "fix the FAIL lines, then run doctor check again"));
        }
        return findings;
    }

    Finding flinkVersion() {
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

    List<Finding> jarPlacement() {
        List<Finding> findings = new ArrayList<>();
        String self = "running from " + jar;
        if (isUnderPlugins(jar)) {
            findings.add(
                    Finding.fail(
                            "jar-location",
                            self
                                    + ", inside plugins/: Flink never loads a checkpoint"
                                    + " storage factory from a plugin class loader",
                            "move the storage jar (and caffeine) to lib/"));
            return findings;
        }
        if (distribution == null) {
            findings.add(
                    Finding.warn(
                            "jar-location",
                            self + "; no Flink distribution to inspect",
                            "set FLINK_HOME or pass the conf dir of the distribution (its sibling lib/ is checked)"));
            return findings;
        }
        Path lib = distribution.resolve("lib");
        Path plugins = distribution.resolve("plugins");
        List<Path> inLib = jars(lib, false);
        List<Path> inPlugins = jars(plugins, true);
        if (!inPlugins.isEmpty()) {
            findings.add(
                    Finding.fail(
                            "jar-location",
                            "found "
                                    + inPlugins
                                    + ": a checkpoint storage in plugins/ is"
                                    + " never loaded (Flink loads the factory with the user-code class loader)",
                            "move it to " + lib));
        }
        if (inLib.isEmpty()) {
            findings.add(
                    Finding.warn(
                            "jar-location",
                            "no resilient-checkpoint-storage jar in " + lib + " (" + self + ")",
                            "copy core/target/resilient-checkpoint-storage-core-<version>.jar and caffeine into "
                                    + lib
                                    + ", unless every job jar bundles them"));
        } else if (hasCaffeine(lib)) {
            findings.add(Finding.ok("jar-location", "found " + names(inLib) + " in " + lib));
        } else {
            findings.add(
                    Finding.fail(
                            "jar-location",
                            "found " + names(inLib) + " in " + lib + " but no caffeine jar",
                            "copy com.github.ben-manes.caffeine:caffeine into " + lib));
        }
        return findings;
    }

    private static boolean isUnderPlugins(Path path) {
        for (Path p = path; p != null; p = p.getParent()) {
            if (p.getFileName() != null && p.getFileName().toString().equals("plugins")) {
                return true;
            }
        }
        return false;
    }

    private static List<Path> jars(Path dir, boolean recursive) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = recursive ? Files.walk(dir) : Files.list(dir)) {
            return files.filter(
                            p ->
                                    p.getFileName()
                                                    .toString()
                                                    .startsWith("resilient-checkpoint-storage")
                                            && p.getFileName().toString().endsWith(".jar"))
                    .sorted()
                    .toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static boolean hasCaffeine(Path lib) {
        try (Stream<Path> files = Files.list(lib)) {
            return files.anyMatch(p -> p.getFileName().toString().startsWith("caffeine"));
        } catch (IOException e) {
            return false;
        }
    }

    private static List<String> names(List<Path> paths) {
        return paths.stream().map(p -> p.getFileName().toString()).toList();
    }

    /** Our keys: unknown ones under our prefix, unreadable values, then the storage's own rules. */
    List<Finding> ourKeys() {
        Map<String, ConfigOption<?>> known = knownOptions();
        List<Finding> findings = new ArrayList<>();
        int set = 0;
        for (String key : new TreeMap<>(conf.toMap()).keySet()) {
            if (!key.startsWith(ResilientCheckpointOptions.PREFIX)) {
                continue;
            }
            ConfigOption<?> option = known.get(key);
            if (option == null) {
                findings.add(
                        Finding.fail(
                                "config",
                                "unknown key '"
                                        + key
                                        + "': Flink ignores it, so its value"
                                        + " does not apply",
                                "did you mean '" + nearest(key, known.keySet()) + "'?"));
                continue;
            }
            set++;
            try {
                conf.get(option);
            } catch (IllegalArgumentException e) {
                findings.add(
                        Finding.fail(
                                "config",
                                "cannot read '" + key + "': " + rootMessage(e),
                                "give '"
                                        + option.key()
                                        + "' a value of its type (see the README's Configuration table)"));
            }
        }
        if (!findings.isEmpty()) {
            return findings;
        }
        try {
            ResilientSettings.fromConfig(conf);
        } catch (IllegalConfigurationException | IllegalArgumentException e) {
            findings.add(Finding.fail("config", rootMessage(e), "change the key it names"));
            return findings;
        }
        findings.add(
                Finding.ok(
                        "config",
                        set
                                + " of our keys set, all valid (retry, deadline, spill, throttle"
                                + " and cleanup rules hold)"));
        return findings;
    }

    static Map<String, ConfigOption<?>> knownOptions() {
        Map<String, ConfigOption<?>> known = new TreeMap<>();
        for (String name : OPTION_CLASSES) {
            Class<?> type;
            try {
                type = Class.forName(name, false, Preflight.class.getClassLoader());
            } catch (ClassNotFoundException | LinkageError e) {
                continue;
            }
            for (Field field : type.getFields()) {
                if (Modifier.isStatic(field.getModifiers())
                        && ConfigOption.class.isAssignableFrom(field.getType())) {
                    try {
                        ConfigOption<?> option = (ConfigOption<?>) field.get(null);
                        known.put(option.key(), option);
                        for (FallbackKey fallback : option.fallbackKeys()) {
                            known.put(fallback.getKey(), option);
                        }
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException("cannot read option " + field, e);
                    }
                }
            }
        }
        return known;
    }

    /** The known key closest to {@code key} by edit distance. */
    static String nearest(String key, Iterable<String> known) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : known) {
            int d = editDistance(key, candidate);
            if (d < bestDistance) {
                best = candidate;
                bestDistance = d;
            }
        }
        return best;
    }

    private static int editDistance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitute, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] t = previous;
            previous = current;
            current = t;
        }
        return previous[b.length()];
    }

    private String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null
                && root.getCause() != root
                && !(root instanceof IllegalConfigurationException)) {
            root = root.getCause();
        }
        return redactor.redact(root.getMessage());
    }

    /** The Flink keys the storage depends on. */
    List<Finding> flinkKeys() {
        List<Finding> findings = new ArrayList<>();
        String storage = conf.get(CheckpointingOptions.CHECKPOINT_STORAGE);
        String key = CheckpointingOptions.CHECKPOINT_STORAGE.key();
        if (storage == null) {
            findings.add(
                    Finding.fail(
                            "storage",
                            "'" + key + "' is not set: Flink uses its own checkpoint storage",
                            key + ": " + FACTORY));
        } else if (!storage.equals(FACTORY)) {
            findings.add(
                    Finding.fail(
                            "storage",
                            "'" + key + "' is '" + storage + "', not this storage",
                            key + ": " + FACTORY));
        } else {
            findings.add(Finding.ok("storage", key + " = " + FACTORY));
        }
        String dir = conf.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY);
        if (dir == null) {
            findings.add(
                    Finding.fail(
                            "checkpoint-dir",
                            "'" + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key() + "' is not set",
                            CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                                    + ": s3://<bucket>/<path>"
                                    + " (any scheme Flink has a FileSystem for)"));
        } else {
            findings.add(
                    Finding.ok(
                            "checkpoint-dir",
                            CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                                    + " = "
                                    + redactor.redact(dir)));
        }
        findings.add(timeouts());
        if (conf.getOptional(CheckpointingOptions.CHECKPOINTING_INTERVAL).isEmpty()) {
            findings.add(
                    Finding.warn(
                            "interval",
                            "'"
                                    + CheckpointingOptions.CHECKPOINTING_INTERVAL.key()
                                    + "' is not set: checkpoints are off unless the job enables them",
                            CheckpointingOptions.CHECKPOINTING_INTERVAL.key() + ": 1 min"));
        }
        return findings;
    }

    private Finding timeouts() {
        Duration timeout;
        Duration attempt;
        double fraction;
        try {
            timeout = conf.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT);
            attempt = conf.get(ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT);
            fraction = conf.get(ResilientCheckpointOptions.DEADLINE_FRACTION);
        } catch (IllegalArgumentException e) {
            return Finding.fail("timeout", rootMessage(e), "see the config line above");
        }
        Duration budget = Duration.ofNanos((long) (timeout.toNanos() * fraction));
        String numbers =
                String.format(
                        "%s %s: uploads of one checkpoint may take %s (%s %s), one attempt %s (%s)",
                        CheckpointingOptions.CHECKPOINTING_TIMEOUT.key(),
                        format(timeout),
                        format(budget),
                        ResilientCheckpointOptions.DEADLINE_FRACTION.key(),
                        fraction,
                        format(attempt),
                        ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT.key());
        if (attempt.compareTo(budget.dividedBy(2)) > 0) {
            return Finding.warn(
                    "timeout",
                    numbers + ": fewer than two attempts fit into the budget",
                    ResilientCheckpointOptions.RETRY_ATTEMPT_TIMEOUT.key()
                            + ": "
                            + format(budget.dividedBy(3))
                            + " (or raise "
                            + CheckpointingOptions.CHECKPOINTING_TIMEOUT.key()
                            + ")");
        }
        return Finding.ok("timeout", numbers);
    }

    /** Writes, reads back and deletes a probe object under the checkpoint root. */
    Finding checkpointRoot() {
        String dir = conf.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY);
        if (dir == null) {
            return Finding.warn(
                    "checkpoint-root",
                    "not probed: no checkpoint directory",
                    "set " + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key());
        }
        org.apache.flink.core.fs.Path root = new org.apache.flink.core.fs.Path(dir);
        URI uri = root.toUri();
        org.apache.flink.core.fs.Path target =
                new org.apache.flink.core.fs.Path(root, ".rcs-doctor-probe-" + UUID.randomUUID());
        byte[] bytes =
                ("Resilient Checkpoint Storage doctor probe " + target.getName())
                        .getBytes(StandardCharsets.UTF_8);
        String step = "choose a store for";
        long start = System.nanoTime();
        try (CheckpointStore store = CheckpointStores.forRoot(uri, conf)) {
            step = "write";
            org.apache.flink.core.fs.Path written =
                    store.upload(new BytesSource(bytes), store.resolveTarget(target));
            step = "read back";
            FileSystem fs = written.getFileSystem();
            byte[] read;
            try (FSDataInputStream in = fs.open(written)) {
                read = in.readAllBytes();
            }
            if (!Arrays.equals(read, bytes)) {
                store.delete(written);
                return Finding.fail(
                        "checkpoint-root",
                        "read back "
                                + read.length
                                + " bytes from "
                                + redactor.redact(written.toString())
                                + ", not the "
                                + bytes.length
                                + " written",
                        fixFor(uri));
            }
            step = "delete";
            store.delete(written);
            long ms = (System.nanoTime() - start) / 1_000_000;
            return Finding.ok(
                    "checkpoint-root",
                    "wrote, read back and deleted a probe under "
                            + redactor.redact(dir)
                            + " through store '"
                            + store.name()
                            + "' in "
                            + ms
                            + " ms");
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return Finding.fail(
                    "checkpoint-root",
                    "cannot "
                            + step
                            + " "
                            + redactor.redact(target.toString())
                            + ": "
                            + redactor.describe(e),
                    fixFor(uri));
        } catch (LinkageError e) {
            // an adapter whose client library is not on the classpath (the HDFS one needs Hadoop)
            return Finding.fail(
                    "checkpoint-root",
                    "cannot "
                            + step
                            + " "
                            + redactor.redact(target.toString())
                            + ": a class the store needs is missing: "
                            + e,
                    "put the store's client on the classpath (for hdfs://: java -cp \"<this jar>:$(hadoop classpath)\""
                            + " io.github.resilientcheckpoints.cli.Main doctor check ...)");
        }
    }

    private static String fixFor(URI root) {
        String scheme =
                root.getScheme() == null ? "file" : root.getScheme().toLowerCase(Locale.ROOT);
        return switch (scheme) {
            case "s3", "s3a", "s3p" ->
                    "create the bucket, and let the configured credentials (s3.access-key or the"
                            + " instance role) PutObject, GetObject and DeleteObject under it; check s3.endpoint and s3.region";
            case "hdfs" ->
                    "create the directory (hdfs dfs -mkdir -p) writable by the Flink user; check"
                            + " fs.defaultFS and that Hadoop is on the classpath";
            case "file" ->
                    "create the directory, writable by the Flink user, on a file system every"
                            + " JobManager and TaskManager host shares";
            default ->
                    "make '"
                            + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                            + "' a location the configured"
                            + " file system for '"
                            + scheme
                            + "' can write (its plugin in plugins/, its credentials set)";
        };
    }

    /** Each spill directory's free space against the floor, and all of them against the quota. */
    List<Finding> spillDirectories() {
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
                            dir, bytes(usable), bytes(total), bytes(floor));
            if (headroom < limits.chunkBytes()) {
                findings.add(
                        Finding.fail(
                                "spill",
                                numbers
                                        + ": below the floor, nothing spills here (streams fall back"
                                        + " to "
                                        + (limits.fallback() == SpillLimits.FallbackPolicy.MEMORY
                                                ? "memory, up to "
                                                        + bytes(limits.memoryBudgetBytes())
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
                                "spill", numbers + ", " + bytes(headroom) + " usable for spill"));
            }
        }
        if (room > 0 && limits.quotaBytes() != Long.MAX_VALUE && room < limits.quotaBytes()) {
            findings.add(
                    Finding.warn(
                            "spill",
                            "the spill directories have "
                                    + bytes(room)
                                    + " above their floors,"
                                    + " less than "
                                    + ResilientCheckpointOptions.SPILL_QUOTA.key()
                                    + " "
                                    + bytes(limits.quotaBytes()),
                            ResilientCheckpointOptions.SPILL_QUOTA.key()
                                    + ": "
                                    + bytes(room)
                                    + " (or add a disk)"));
        }
        return findings;
    }

    static String format(Duration d) {
        return TimeUtils.formatWithHighestUnit(d);
    }

    static String bytes(long n) {
        if (n == Long.MAX_VALUE) {
            return "unlimited";
        }
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = 0;
        while (Math.abs(v) >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? n + " B" : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    /** The probe's bytes. */
    private record BytesSource(byte[] bytes) implements UploadSource {
        @Override
        public long length() {
            return bytes.length;
        }

        @Override
        public InputStream open() {
            return new ByteArrayInputStream(bytes);
        }
    }
}
