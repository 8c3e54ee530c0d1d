package io.github.resilientcheckpoints.cluster;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An S3 API server (S3Proxy on a file-system blob store) in a process of its own on 127.0.0.1. A
 * bucket is a directory under {@link #blobs()}, so tests create buckets and look at objects
 * directly.
 */
final class S3ServerProcess implements AutoCloseable {

    static final String ACCESS_KEY = "rcs-cluster-access";
    static final String SECRET_KEY = "rcs-cluster-secret-never-logged";
    static final String REGION = "us-east-1";

    private final Process process;
    private final Path blobs;
    private final int port;

    S3ServerProcess(Path home) throws Exception {
        blobs = Files.createDirectories(home.resolve("blobs"));
        port = StandaloneCluster.freePort();
        Path properties = home.resolve("s3proxy.properties");
        Files.writeString(
                properties,
                String.join(
                        "\n",
                        "s3proxy.endpoint=http://127.0.0.1:" + port,
                        "s3proxy.authorization=aws-v2-or-v4",
                        "s3proxy.identity=" + ACCESS_KEY,
                        "s3proxy.credential=" + SECRET_KEY,
                        "jclouds.provider=filesystem",
                        "jclouds.filesystem.basedir=" + blobs,
                        ""));
        String java =
                System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        process =
                new ProcessBuilder(
                                List.of(
                                        java,
                                        "-Xmx256m",
                                        "-cp",
                                        System.getProperty("java.class.path"),
                                        "org.gaul.s3proxy.Main",
                                        "--properties",
                                        properties.toString()))
                        .redirectErrorStream(true)
                        .redirectOutput(home.resolve("s3proxy.out").toFile())
                        .start();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return;
            } catch (IOException notYet) {
                if (!process.isAlive() || System.nanoTime() > end) {
                    close();
                    throw new IllegalStateException(
                            "S3Proxy did not start; see " + home.resolve("s3proxy.out"));
                }
                Thread.sleep(100);
            }
        }
    }

    URI endpoint() {
        return URI.create("http://127.0.0.1:" + port);
    }

    Path blobs() {
        return blobs;
    }

    Path createBucket(String name) throws IOException {
        return Files.createDirectories(blobs.resolve(name));
    }

    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }
}
