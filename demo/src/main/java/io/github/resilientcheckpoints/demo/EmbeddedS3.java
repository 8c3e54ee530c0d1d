package io.github.resilientcheckpoints.demo;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.configuration.Configuration;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.blobstore.BlobStore;
import org.gaul.s3proxy.blobstore.ForwardingBlobStore;
import org.gaul.s3proxy.blobstore.domain.MultipartUpload;
import org.gaul.s3proxy.nio2blob.TransientNio2BlobStore;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.services.s3.model.CreateBucketRequest;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.PutObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.UploadPartRequest;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

/**
 * A real S3 API server (S3Proxy, in memory) on 127.0.0.1 that answers every {@code n}-th write
 * (PutObject or UploadPart) with {@code 503 SlowDown}, as S3 does under load. Owned and stopped by
 * whoever creates it (the demo; the tests of the installable jar).
 */
public final class EmbeddedS3 implements AutoCloseable {

    public static final String REGION = "us-east-1";
    public static final String ACCESS_KEY = "demo-access-key";

    /** A made-up key for a loopback server; tests check that it never shows in a message. */
    public static final String SECRET_KEY = "demo-secret-key-never-logged";

    private final S3Proxy proxy;
    private final SlowDownEveryNth store;

    /**
     * @param slowDownEvery every this many writes one is answered 503 SlowDown; 0 for never
     */
    public EmbeddedS3(int slowDownEvery) throws Exception {
        store = new SlowDownEveryNth(new TransientNio2BlobStore(), slowDownEvery);
        proxy =
                S3Proxy.builder()
                        .blobStore(store)
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

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + proxy.getPort());
    }

    public void createBucket(String bucket) {
        store.delegate().createContainer(CreateBucketRequest.builder().bucket(bucket).build());
    }

    /** Writes answered with 503 SlowDown so far. */
    public long slowDowns() {
        return store.injected.get();
    }

    /** The keys Flink's S3 file system and the storage's S3 store both read. */
    public Configuration flinkConfig() {
        return flinkConfig(endpoint());
    }

    /** The same keys for a server of this class at {@code endpoint} (e.g. in another process). */
    public static Configuration flinkConfig(URI endpoint) {
        Configuration conf = new Configuration();
        conf.setString("s3.endpoint", endpoint.toString());
        conf.setString("s3.region", REGION);
        conf.setString("s3.access-key", ACCESS_KEY);
        conf.setString("s3.secret-key", SECRET_KEY);
        conf.setString("s3.path-style-access", "true");
        return conf;
    }

    @Override
    public void close() throws Exception {
        proxy.stop();
    }

    /**
     * S3Proxy turns an {@link S3Exception} thrown here into the HTTP status and error code it
     * carries.
     */
    private static final class SlowDownEveryNth extends ForwardingBlobStore {
        private final int every;
        private final AtomicLong writes = new AtomicLong();
        final AtomicLong injected = new AtomicLong();

        SlowDownEveryNth(BlobStore delegate, int every) {
            super(delegate);
            this.every = every;
        }

        @Override
        public PutObjectResponse putBlob(PutObjectRequest request, InputStream content) {
            maybeSlowDown(content);
            return super.putBlob(request, content);
        }

        @Override
        public UploadPartResponse uploadMultipartPart(
                MultipartUpload upload, UploadPartRequest request, InputStream content) {
            maybeSlowDown(content);
            return super.uploadMultipartPart(upload, request, content);
        }

        /** Reads the request body before answering 503, so the client is not cut mid-write. */
        private void maybeSlowDown(InputStream content) {
            if (every > 0 && writes.incrementAndGet() % every == 0) {
                injected.incrementAndGet();
                try {
                    content.transferTo(OutputStream.nullOutputStream());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                throw (S3Exception)
                        S3Exception.builder()
                                .statusCode(503)
                                .awsErrorDetails(
                                        AwsErrorDetails.builder()
                                                .errorCode("SlowDown")
                                                .errorMessage("Please reduce your request rate.")
                                                .build())
                                .build();
            }
        }
    }
}
