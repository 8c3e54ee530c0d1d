package io.github.resilientcheckpoints.testing;

import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.spill.FreeSpaceProbe;
import io.github.resilientcheckpoints.spill.SpillLimits;
import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.storage.WorkerServices;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import io.github.resilientcheckpoints.upload.RetryingUploader;
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
        return services(
                store,
                policy,
                executor,
                new SpillSpace(
                        List.of(spillDir),
                        generousLimits(),
                        FreeSpaceProbe.FILE_STORE,
                        Ticker.SYSTEM),
                metrics,
                redactor);
    }

    public static WorkerServices services(
            CheckpointStore store,
            RetryPolicy policy,
            ExecutorService executor,
            SpillSpace space,
            StorageMetrics metrics,
            Redactor redactor) {
        RetryingUploader uploader =
                new RetryingUploader(
                        store, policy, executor, Ticker.SYSTEM, () -> 0.5, metrics, redactor);
        return new WorkerServices(
                uploader, space, metrics, Ticker.SYSTEM, Duration.ofMinutes(10).toNanos());
    }

    /** No floor, no quota: the disk of the test machine decides. */
    public static SpillLimits generousLimits() {
        return new SpillLimits(
                0,
                0.0,
                Long.MAX_VALUE,
                1 << 20,
                Duration.ofSeconds(1),
                SpillFallback.MEMORY,
                64 << 20);
    }

    public static RetryPolicy fastPolicy(int attempts) {
        return new RetryPolicy(
                attempts, Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofSeconds(30));
    }
}
