package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientSettings;
import io.github.resilientcheckpoints.upload.Redactor;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.FallbackKey;
import org.apache.flink.configuration.IllegalConfigurationException;

/**
 * {@code config}: every key under our prefix is known and readable as its type, then the storage's
 * own validation ({@link ResilientSettings#fromConfig}) runs exactly as at job start.
 */
final class ConfigKeysCheck implements PreflightCheck {

    /**
     * Option classes whose keys are ours; the adapters' are looked up by name (they may be absent).
     */
    static final List<String> OPTION_CLASSES =
            List.of(
                    ResilientCheckpointOptions.class.getName(),
                    "io.github.resilientcheckpoints.s3.S3StoreOptions",
                    "io.github.resilientcheckpoints.hdfs.HdfsStoreOptions");

    private final Configuration conf;
    private final Redactor redactor;

    ConfigKeysCheck(Configuration conf, Redactor redactor) {
        this.conf = conf;
        this.redactor = redactor;
    }

    /** Our keys: unknown ones under our prefix, unreadable values, then the storage's own rules. */
    @Override
    public List<Finding> run() {
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
                                "cannot read '" + key + "': " + rootMessage(e, redactor),
                                "give '"
                                        + option.key()
                                        + "' a value of its type (see docs/configuration.md)"));
            }
        }
        if (!findings.isEmpty()) {
            return findings;
        }
        try {
            ResilientSettings.fromConfig(conf);
        } catch (IllegalConfigurationException | IllegalArgumentException e) {
            findings.add(
                    Finding.fail("config", rootMessage(e, redactor), "change the key it names"));
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
                type = Class.forName(name, false, ConfigKeysCheck.class.getClassLoader());
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

    static String rootMessage(Throwable e, Redactor redactor) {
        Throwable root = e;
        while (root.getCause() != null
                && root.getCause() != root
                && !(root instanceof IllegalConfigurationException)) {
            root = root.getCause();
        }
        return redactor.redact(root.getMessage());
    }
}
