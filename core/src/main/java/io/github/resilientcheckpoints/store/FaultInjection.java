package io.github.resilientcheckpoints.store;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.config.ConfigReading;
import java.io.Serializable;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;

/**
 * The share of store calls to fail on purpose (for trying the storage out; 0 in production): the
 * {@code fault-injection.*} keys. {@link #wrap} puts a {@link FaultInjectingStore} around a store
 * when any ratio is set.
 */
public record FaultInjection(double transientRatio, double throttledRatio) implements Serializable {

    public static final FaultInjection NONE = new FaultInjection(0, 0);

    /** Reads and checks both ratios: each within 0..0.9, together at most 0.9. */
    public static FaultInjection fromConfig(ReadableConfig config) {
        double transientRatio =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO,
                        ConfigReading.NUMBER);
        double throttledRatio =
                ConfigReading.read(
                        config,
                        ResilientCheckpointOptions.FAULT_INJECTION_THROTTLED_RATIO,
                        ConfigReading.NUMBER);
        ConfigReading.range(
                ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO,
                transientRatio,
                0.0,
                0.9);
        ConfigReading.range(
                ResilientCheckpointOptions.FAULT_INJECTION_THROTTLED_RATIO,
                throttledRatio,
                0.0,
                0.9);
        if (transientRatio + throttledRatio > 0.9) {
            throw new IllegalConfigurationException(
                    String.format(
                            "'%s' (%s) and '%s' (%s) together must not exceed 0.9.",
                            ResilientCheckpointOptions.FAULT_INJECTION_TRANSIENT_RATIO.key(),
                            transientRatio,
                            ResilientCheckpointOptions.FAULT_INJECTION_THROTTLED_RATIO.key(),
                            throttledRatio));
        }
        return new FaultInjection(transientRatio, throttledRatio);
    }

    public boolean enabled() {
        return transientRatio > 0 || throttledRatio > 0;
    }

    /** {@code store} itself when no fault is injected, else a fault-injecting wrapper around it. */
    public CheckpointStore wrap(CheckpointStore store) {
        return enabled() ? new FaultInjectingStore(store, transientRatio, throttledRatio) : store;
    }
}
