package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import io.github.resilientcheckpoints.storage.ResilientCheckpointStorageFactory;
import io.github.resilientcheckpoints.testing.CountingJob;
import java.nio.file.Path;
import java.util.List;
import org.apache.flink.configuration.Configuration;

/** A loopback S3 server with one bucket behind a {@link FaultProxy}; closes both. */
final class ProxiedS3 implements AutoCloseable {

    final String bucket;
    final S3Server server;
    final FaultProxy proxy;

    ProxiedS3(String bucket) throws Exception {
        this.bucket = bucket;
        server = new S3Server();
        try {
            server.createBucket(bucket);
            proxy = new FaultProxy(server.endpoint());
        } catch (Exception | Error e) {
            server.close();
            throw e;
        }
    }

    /**
     * The counting job ({@link CountingJob#config}, hashmap state) checkpointing through the
     * resilient storage to {@code s3://<bucket>/<dir>} behind the proxy, spilling to {@code spill}.
     */
    Configuration jobConfig(String dir, Path spill) {
        return jobConfig(ResilientCheckpointStorageFactory.class.getName(), dir, spill);
    }

    /**
     * The counting job ({@link CountingJob#config}, hashmap state) checkpointing through {@code
     * storage} to {@code s3://<bucket>/<dir>} behind the proxy, spilling to {@code spill}: the keys
     * every job on this proxy shares; a test sets its own on top.
     */
    Configuration jobConfig(String storage, String dir, Path spill) {
        Configuration conf = CountingJob.config(storage, "hashmap", "s3://" + bucket + "/" + dir);
        conf.addAll(FlinkS3.config(proxy.endpoint()));
        conf.set(ResilientCheckpointOptions.SPILL_DIRECTORIES, List.of(spill.toString()));
        return conf;
    }

    @Override
    public void close() throws Exception {
        try {
            proxy.close();
        } finally {
            server.close();
        }
    }
}
