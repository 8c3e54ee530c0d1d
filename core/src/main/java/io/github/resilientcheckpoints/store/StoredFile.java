package io.github.resilientcheckpoints.store;

import org.apache.flink.core.fs.Path;

/** A file in the store, as listings report it. */
public record StoredFile(Path path, long size, long modificationTimeMillis) {}
