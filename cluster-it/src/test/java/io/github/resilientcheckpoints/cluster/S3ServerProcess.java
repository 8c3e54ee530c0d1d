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
 * directly. It can be stopped ({@code kill -9}) and started again on the same port, over the same
 * blobs: a store that is down for a while, then back.
 */
final class S3ServerProcess implements AutoCloseable {

    static final String ACCESS_KEY = "rcs-cluster-access";
    static final String SECRET_KEY = "rcs-cluster-secret-never-logged";
    static final String REGION = "us-east-1";

    private final Path home;
    private final Path blobs;
    private final Path properties;
    private final int port;
    private Process process;

    S3ServerProcess(Path home) throws Exception {
        this.home = home;
        blobs = Files.createDirectories(home.resolve("blobs"));
        port = StandaloneCluster.freePort();
        properties = home.resolve("s3proxy.properties");
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
        start();
    }

    /**
     * Starts the server (again) on its port, over the same blobs; returns once it accepts
     * connections.
     */
    void start() throws Exception {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("the S3 server is running");
        }
        String java =
                System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        process =
                new ProcessBuilder(
                                List.of(
                                        java,
                                        "-Xmx256m",
                                        "-Djava.io.tmpdir=" + home,
                                        "-cp",
                                        System.getProperty("java.class.path"),
                                        "org.gaul.s3proxy.Main",
                                        "--properties",
                                        properties.toString()))
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.appendTo(out().toFile()))
                        .start();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return;
            } catch (IOException notYet) {
                if (!process.isAlive() || System.nanoTime() > end) {
                    close();
                    throw new IllegalStateException("S3Proxy did not start; see " + out());
                }
                Thread.sleep(100);
            }
        }
    }

    /** {@code kill -9}: the store is gone, connections to its port are refused. */
    void stop() throws InterruptedException {
        StandaloneCluster.kill9(process);
    }

    /** The server's output, across restarts. */
    Path out() {
        return home.resolve("s3proxy.out");
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
