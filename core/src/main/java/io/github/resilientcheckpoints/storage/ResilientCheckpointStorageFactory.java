package io.github.resilientcheckpoints.storage;

import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.runtime.state.CheckpointStorageFactory;

/**
 * Entry point for Flink: {@code execution.checkpointing.storage:
 * io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory}. The jar must be in
 * Flink's {@code lib/} (or the job jar); Flink never loads a storage factory from {@code plugins/}.
 */
public final class ResilientCheckpointStorageFactory
        implements CheckpointStorageFactory<ResilientCheckpointStorage> {

    @Override
    public ResilientCheckpointStorage createFromConfig(
            ReadableConfig config, ClassLoader classLoader) throws IllegalConfigurationException {
        return ResilientCheckpointStorage.fromConfig(config, classLoader);
    }
}
