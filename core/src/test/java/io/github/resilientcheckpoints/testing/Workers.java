package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.SpillDirectories;
import io.github.resilientcheckpoints.storage.WorkerServices;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.RetryingUploader;
import io.github.resilientcheckpoints.upload.Ticker;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;

/** Builds {@link WorkerServices} for stream tests from a store, a policy and a spill directory. */
public final class Workers {

    private Workers() {}

    public static WorkerServices services(
            CheckpointStore store,
            RetryPolicy policy,
            ExecutorService executor,
            Path spillDir,
            StorageMetrics metrics,
            Redactor redactor)
            throws IOException {
        RetryingUploader uploader = new RetryingUploader(
                store, policy, executor, Ticker.SYSTEM, () -> 0.5, metrics, redactor);
        return new WorkerServices(
                uploader, SpillDirectories.prepare(List.of(spillDir)), metrics, Ticker.SYSTEM,
                Duration.ofMinutes(10).toNanos());
    }

    public static RetryPolicy fastPolicy(int attempts) {
        return new RetryPolicy(attempts, Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofSeconds(30));
    }
}
