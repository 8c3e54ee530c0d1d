package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.CheckpointStore;
import java.net.URI;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;

/**
 * Run in a child JVM with a small heap: uploads a synthetic file much larger than that heap through
 * the S3 store. Exit code 0 means the upload streamed (nothing held the file in memory).
 */
public final class BoundedHeapUpload {

    public static void main(String[] args) throws Exception {
        URI endpoint = URI.create(args[0]);
        String target = args[1];
        long size = Long.parseLong(args[2]);
        Configuration conf = FlinkS3.config(endpoint);
        try (CheckpointStore store = new S3StoreProvider().create(URI.create(target), conf)) {
            store.upload(new SyntheticSource(size), new Path(target));
        }
        System.out.println(
                "uploaded " + size + " bytes with max heap " + Runtime.getRuntime().maxMemory());
    }
}
