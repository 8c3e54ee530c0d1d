package io.github.resilientcheckpoints.s3;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.net.URI;
import java.util.EnumSet;
import java.util.Properties;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.blobstore.BlobStore;
import org.gaul.s3proxy.middleware.Middlewares;
import org.gaul.s3proxy.nio2blob.TransientNio2BlobStore;
import org.gaul.shaded.org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.gaul.shaded.org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.gaul.shaded.org.eclipse.jetty.server.Handler;
import org.gaul.shaded.org.eclipse.jetty.server.Server;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/** A real S3 API server (S3Proxy, in memory) on 127.0.0.1, owned and stopped by a test. */
final class S3Server implements AutoCloseable {

    static final String ACCESS_KEY = "rcs-test-access";
    static final String SECRET_KEY = "rcs-test-secret-do-not-log";
    static final String REGION = "us-east-1";

    private final S3Proxy proxy;

    /** A server that keeps every object's bytes, to be read back, and checks every signature. */
    S3Server() throws Exception {
        this(true, true);
    }

    /**
     * For benchmarks, where the server's own work competes with the clients under test for this
     * machine's cores (real S3 does it on its own machines).
     *
     * @param keepBytes false: S3Proxy's null store. It still reads every request body and keeps
     *     each object's and part's length, but drops the bytes instead of MD5-hashing them (for the
     *     ETag) and copying them into memory.
     * @param checkSignatures false: the server accepts any request without checking its SigV4
     *     signature, and so does not hash every signed chunk of a body again (SHA-256) to verify
     *     it; the clients still sign as before.
     */
    S3Server(boolean keepBytes, boolean checkSignatures) throws Exception {
        BlobStore store = new TransientNio2BlobStore();
        if (!keepBytes) {
            Properties nullStore = new Properties();
            nullStore.setProperty("s3proxy.null-blobstore", "true");
            store =
                    Middlewares.wrap(
                            store,
                            nullStore,
                            properties -> {
                                throw new IllegalStateException("no second backend is configured");
                            });
        }
        proxy =
                S3Proxy.builder()
                        .blobStore(store)
                        .endpoint(URI.create("http://127.0.0.1:0"))
                        .awsAuthentication(
                                checkSignatures
                                        ? AuthenticationType.AWS_V2_OR_V4
                                        : AuthenticationType.NONE,
                                ACCESS_KEY,
                                SECRET_KEY)
                        .build();
        readEveryRequestToItsEnd(proxy);
        proxy.start();
        long end = System.nanoTime() + 30_000_000_000L;
        while (!"STARTED".equals(proxy.getState()) && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        if (!"STARTED".equals(proxy.getState())) {
            throw new IllegalStateException("S3Proxy did not start: " + proxy.getState());
        }
    }

    /**
     * S3Proxy answers a PutObject or UploadPart once it has the object's bytes, without reading the
     * rest of an aws-chunked body (the final chunk and the checksum trailer the SDK sends after
     * them); its Jetty then closes the connection, and the client, still writing that end, sees a
     * reset and no answer ("Error writing request body to server"): between 1 in 25 and 1 in 5
     * small uploads failed so, at random. Real S3 reads the trailer before it answers. A filter
     * reads what is left of each request before the answer is completed, so the connection stays
     * usable.
     */
    private static void readEveryRequestToItsEnd(S3Proxy proxy)
            throws ReflectiveOperationException {
        Field field = S3Proxy.class.getDeclaredField("server");
        field.setAccessible(true);
        Handler handler = ((Server) field.get(proxy)).getHandler();
        while (!(handler instanceof ServletContextHandler)
                && handler instanceof Handler.Singleton) {
            handler = ((Handler.Singleton) handler).getHandler();
        }
        if (!(handler instanceof ServletContextHandler)) {
            throw new IllegalStateException(
                    "S3Proxy serves no ServletContextHandler but "
                            + handler
                            + ": update S3Server.readEveryRequestToItsEnd");
        }
        ((ServletContextHandler) handler)
                .addFilter(
                        new FilterHolder(
                                (Filter)
                                        (request, response, chain) -> {
                                            chain.doFilter(request, response);
                                            try (InputStream rest = request.getInputStream()) {
                                                rest.transferTo(OutputStream.nullOutputStream());
                                            } catch (IOException | IllegalStateException e) {
                                                // no body left to read, or read as characters
                                            }
                                        }),
                        "/*",
                        EnumSet.of(DispatcherType.REQUEST));
    }

    URI endpoint() {
        return URI.create("http://127.0.0.1:" + proxy.getPort());
    }

    /** A plain SDK client straight to the server (no faults), for setup and checks. */
    S3Client client() {
        return client(endpoint());
    }

    static S3Client client(URI endpoint) {
        return S3Client.builder()
                .endpointOverride(endpoint)
                .region(Region.of(REGION))
                .forcePathStyle(true)
                .credentialsProvider(
                        StaticCredentialsProvider.create(
                                AwsBasicCredentials.create(ACCESS_KEY, SECRET_KEY)))
                .build();
    }

    void createBucket(String bucket) {
        try (S3Client c = client()) {
            c.createBucket(b -> b.bucket(bucket));
        }
    }

    @Override
    public void close() throws IOException {
        try {
            proxy.stop();
        } catch (Exception e) {
            throw new IOException("could not stop S3Proxy", e);
        }
    }
}
