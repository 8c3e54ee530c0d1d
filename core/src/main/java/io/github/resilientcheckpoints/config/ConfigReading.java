package io.github.resilientcheckpoints.config;

import java.time.Duration;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.util.TimeUtils;

/**
 * How every component reads its own keys: a value that cannot be parsed or is out of range fails
 * with an {@link IllegalConfigurationException} naming the key, the value and what is accepted.
 * Reading has no side effects.
 */
public final class ConfigReading {

    public static final String DURATION =
            "a duration such as '250 ms', '30 s', '2 min' (units: ns, us, ms, s, min, h, d)";
    public static final String SIZE =
            "a size such as '512 mb', '4 mb', '1 gb' (units: b, kb, mb, gb, tb)";
    public static final String NUMBER = "a number";
    public static final String INTEGER = "an integer";
    public static final String BOOLEAN = "true or false";

    private ConfigReading() {}

    /** The option's value; an unparsable value fails naming the key and {@code accepted}. */
    public static <T> T read(ReadableConfig config, ConfigOption<T> option, String accepted) {
        try {
            return config.get(option);
        } catch (IllegalArgumentException e) {
            // Bounded: a cause cycle longer than one must not hang job submission.
            Throwable root = e;
            for (int depth = 0;
                    depth < 32 && root.getCause() != null && root.getCause() != root;
                    depth++) {
                root = root.getCause();
            }
            throw new IllegalConfigurationException(
                    String.format(
                            "Cannot read '%s': %s. Expected %s.",
                            option.key(), root.getMessage(), accepted),
                    e);
        }
    }

    /** Fails unless {@code min <= value <= max}. */
    public static void range(ConfigOption<Integer> option, int value, int min, int max) {
        if (value < min || value > max) {
            fail(option, value, "an integer between " + min + " and " + max);
        }
    }

    /** Fails unless {@code min <= value <= max}. */
    public static void range(ConfigOption<Double> option, double value, double min, double max) {
        if (!(value >= min && value <= max)) {
            fail(option, value, "a number between " + min + " and " + max);
        }
    }

    /** Fails unless {@code min <= value <= max}, naming the bounds as Flink writes durations. */
    public static void range(
            ConfigOption<Duration> option, Duration value, Duration min, Duration max) {
        if (value.compareTo(min) < 0 || value.compareTo(max) > 0) {
            fail(
                    option,
                    value,
                    "a duration between "
                            + TimeUtils.formatWithHighestUnit(min)
                            + " and "
                            + TimeUtils.formatWithHighestUnit(max));
        }
    }

    /** Fails naming the key, the value and what is accepted. */
    public static void fail(ConfigOption<?> option, Object value, String accepted) {
        throw new IllegalConfigurationException(
                String.format(
                        "Invalid value %s for '%s': expected %s.", value, option.key(), accepted));
    }

    /** Fails because {@code larger} is below {@code smaller}. */
    public static void notSmaller(
            ConfigOption<?> larger,
            Object largerValue,
            ConfigOption<?> smaller,
            Object smallerValue) {
        throw new IllegalConfigurationException(
                String.format(
                        "'%s' (%s) must not be smaller than '%s' (%s).",
                        larger.key(), largerValue, smaller.key(), smallerValue));
    }
}
