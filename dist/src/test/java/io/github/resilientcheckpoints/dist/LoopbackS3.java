package io.github.resilientcheckpoints.dist;

import org.apache.flink.configuration.Configuration;

import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.nio2blob.TransientNio2BlobStore;

import software.amazon.awssdk.services.s3.model.CreateBucketRequest;

import java.net.URI;

/**
 * An S3 API server (S3Proxy, in memory) on 127.0.0.1 for the tests of the installed jar, with the
 * Flink configuration that points Flink's S3 file system and our S3 store at it.
 */
final class LoopbackS3 implements AutoCloseable {

    static final String REGION = "us-east-1";
    static final String ACCESS_KEY = "rcs-dist-access";
    static final String SECRET_KEY = "rcs-dist-secret-never-logged";

    private final S3Proxy proxy;
    private final TransientNio2BlobStore blobs = new TransientNio2BlobStore();

    LoopbackS3() throws Exception {
        proxy = S3Proxy.builder()
                .blobStore(blobs)
                .endpoint(URI.create("http://127.0.0.1:0"))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
                .build();
        proxy.start();
        long end = System.nanoTime() + 30_000_000_000L;
        while (!"STARTED".equals(proxy.getState())) {
            if (System.nanoTime() > end) {
                throw new IllegalStateException("S3Proxy did not start: " + proxy.getState());
            }
            Thread.sleep(10);
        }
    }

    URI endpoint() {
        return URI.create("http://127.0.0.1:" + proxy.getPort());
    }

    void createBucket(String bucket) {
        blobs.createContainer(CreateBucketRequest.builder().bucket(bucket).build());
    }

    /** The keys as Flink's S3 file systems and our S3 store read them. */
    Configuration flinkConfig() {
        return DistJarJob.s3Config(endpoint());
    }

    @Override
    public void close() throws Exception {
        proxy.stop();
    }
}
