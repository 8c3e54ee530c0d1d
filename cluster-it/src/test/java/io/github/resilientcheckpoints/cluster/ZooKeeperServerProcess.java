package io.github.resilientcheckpoints.cluster;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A standalone ZooKeeper server ({@code ZooKeeperServerMain}, the version Flink's shaded client is
 * built from) in a process of its own, its client port on 127.0.0.1 and its admin server off, so
 * that it listens nowhere else. Closing it kills the process.
 */
final class ZooKeeperServerProcess implements AutoCloseable {

    private final Process process;
    private final int port;
    private final Path out;

    /**
     * @param home where its data directory and {@code zoo.cfg} go
     * @param out where its output goes
     * @param tickMillis ZooKeeper's tick: sessions may last between 2 and 20 ticks
     */
    ZooKeeperServerProcess(Path home, Path out, int tickMillis) throws Exception {
        this.out = out;
        Path data = Files.createDirectories(home.resolve("data"));
        port = StandaloneCluster.freePort();
        Path config = home.resolve("zoo.cfg");
        Files.writeString(
                config,
                String.join(
                        "\n",
                        "tickTime=" + tickMillis,
                        "dataDir=" + data,
                        "clientPort=" + port,
                        "clientPortAddress=127.0.0.1",
                        "admin.enableServer=false",
                        ""));
        String java =
                System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        process =
                new ProcessBuilder(
                                List.of(
                                        java,
                                        "-Xmx128m",
                                        "-Djava.io.tmpdir=" + home,
                                        "-Dzookeeper.admin.enableServer=false",
                                        "-cp",
                                        System.getProperty("java.class.path"),
                                        "org.apache.zookeeper.server.ZooKeeperServerMain",
                                        config.toString()))
                        .redirectErrorStream(true)
                        .redirectOutput(out.toFile())
                        .start();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return;
            } catch (IOException notYet) {
                if (!process.isAlive() || System.nanoTime() > end) {
                    close();
                    throw new IllegalStateException("ZooKeeper did not start; see " + out);
                }
                Thread.sleep(100);
            }
        }
    }

    /** The connect string of this one-server ensemble. */
    String quorum() {
        return "127.0.0.1:" + port;
    }

    Path out() {
        return out;
    }

    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }
}
