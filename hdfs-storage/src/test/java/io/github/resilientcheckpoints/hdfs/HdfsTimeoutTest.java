package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.resilientcheckpoints.metrics.StorageMetrics;
import io.github.resilientcheckpoints.storage.jm.MetadataWriter;
import io.github.resilientcheckpoints.store.Causes;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.SupportsListing;
import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.Redactor;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.Path;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.net.ConnectTimeoutException;
import org.apache.hadoop.net.StandardSocketFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A NameNode that does not answer in time is a timeout, not a cancellation: {@link
 * SocketTimeoutException} and Hadoop's {@link ConnectTimeoutException} extend {@link
 * InterruptedIOException}, and a retry loop that takes every {@code InterruptedIOException} for an
 * interrupt gives up on the first one. The store must hand such a failure on as a transient one
 * that names the path, and keep real interrupts as they are.
 */
class HdfsTimeoutTest {

    /**
     * These tests interrupt the JUnit thread on purpose: a flag left behind by a failed assertion
     * would make the next test class's store calls look cancelled (no resend).
     */
    @org.junit.jupiter.api.AfterEach
    void leaveNoInterruptBehind() {
        Thread.interrupted();
    }

    private SilentNameNode silent;
    private HdfsStore store;

    /**
     * A client that gives up on a silent NameNode within about a second. Hadoop shares one RPC
     * client per socket factory in a JVM, and that client's connect timeout is the one of the
     * configuration that created it: {@link IsolatedSocketFactory} gives these tests their own.
     */
    static Configuration impatientClient() {
        Configuration conf = new Configuration();
        conf.set("hadoop.rpc.socket.factory.class.default", IsolatedSocketFactory.class.getName());
        conf.setInt("ipc.client.rpc-timeout.ms", 1000);
        conf.setInt("ipc.client.connect.timeout", 1000);
        conf.setInt("ipc.client.connect.max.retries", 0);
        conf.setInt("ipc.client.connect.max.retries.on.timeouts", 0);
        conf.setInt("ipc.client.connect.retry.interval", 50);
        conf.setBoolean("dfs.client.retry.policy.enabled", false);
        conf.setInt("dfs.client.socket-timeout", 2000);
        return conf;
    }

    @BeforeEach
    void start() throws IOException {
        silent = new SilentNameNode();
        store =
                new HdfsStore(
                        FileSystem.newInstance(silent.uri(), impatientClient()),
                        1,
                        null,
                        Duration.ofSeconds(10),
                        Ticker.SYSTEM);
    }

    @AfterEach
    void stop() throws IOException {
        Thread.interrupted();
        try {
            store.close();
        } finally {
            silent.close();
        }
    }

    private Path path(String name) {
        return new Path(silent.uri() + "/ckpt/chk-1/" + name);
    }

    private static void assertTimeoutSeenAsTransient(Throwable thrown, HdfsStore store, Path p) {
        assertThat(thrown).as("the operation fails").isInstanceOf(IOException.class);
        assertThat(Causes.chain(thrown))
                .as("the timeout is kept as a cause")
                .anyMatch(t -> t instanceof SocketTimeoutException);
        assertThat(thrown)
                .as("a timeout must not reach the retry loop as an InterruptedIOException")
                .isNotInstanceOf(InterruptedIOException.class);
        assertThat(Causes.isInterrupt(thrown)).isFalse();
        assertThat(thrown.getMessage()).as("the message names the path").contains(p.getPath());
        assertThat(store.classify(thrown)).isEqualTo(FailureClass.TRANSIENT);
        assertThat(Thread.currentThread().isInterrupted()).isFalse();
    }

    @Test
    void aNameNodeRpcTimeoutIsATransientFailureNamingThePath() {
        Path target = path("state");
        Throwable upload =
                catchThrowable(() -> store.upload(new ByteSource(new byte[] {1, 2, 3}), target));
        assertTimeoutSeenAsTransient(upload, store, target);

        Path gone = path("abandoned");
        assertTimeoutSeenAsTransient(catchThrowable(() -> store.delete(gone)), store, gone);

        Path dir = new Path(silent.uri() + "/ckpt/chk-1");
        assertTimeoutSeenAsTransient(
                catchThrowable(
                        () -> store.capability(SupportsListing.class).orElseThrow().listFiles(dir)),
                store,
                dir);
    }

    @Test
    void aConnectTimeoutIsATransientFailureNamingThePath() throws IOException {
        assumeTrue(
                silent.fillBacklog(),
                "this kernel completes handshakes beyond a full accept queue: no connect timeout");
        Path gone = path("abandoned");
        Throwable delete = catchThrowable(() -> store.delete(gone));
        assertTimeoutSeenAsTransient(delete, store, gone);
        assertThat(Causes.chain(delete)).anyMatch(t -> t instanceof ConnectTimeoutException);
    }

    @Test
    void theMetadataWriteIsRetriedAfterANameNodeTimeout() {
        StorageMetrics metrics = new StorageMetrics();
        MetadataWriter writer =
                new MetadataWriter(
                        store,
                        new RetryPolicy(
                                2,
                                Duration.ofMillis(10),
                                Duration.ofMillis(10),
                                Duration.ofSeconds(30)),
                        Ticker.SYSTEM,
                        Sleeper.SYSTEM,
                        () -> 0.5,
                        metrics,
                        Redactor.NONE,
                        Runnable::run,
                        Duration.ofMinutes(1).toNanos());
        Path metadata = path("_metadata");
        Throwable thrown =
                catchThrowable(
                        () ->
                                writer.write(
                                        new byte[] {1, 2, 3},
                                        metadata,
                                        System.nanoTime() + TimeUnit.SECONDS.toNanos(60)));
        assertThat(thrown).isInstanceOf(IOException.class);
        assertThat(thrown)
                .as("the checkpoint failed for the timeouts, not as if it were cancelled")
                .isNotInstanceOf(InterruptedIOException.class);
        assertThat(metrics.metadataRetries())
                .as("a NameNode timeout on _metadata is retried")
                .isGreaterThanOrEqualTo(1);
    }

    @Test
    void aRealInterruptStaysAnInterrupt() {
        Thread.currentThread().interrupt();
        Throwable thrown =
                catchThrowable(
                        () -> store.upload(new ByteSource(new byte[] {1, 2, 3}), path("state")));
        assertThat(Thread.interrupted()).as("the interrupt flag is kept").isTrue();
        assertThat(thrown).isInstanceOf(InterruptedIOException.class);
        assertThat(Causes.isInterrupt(thrown) || thrown.getClass() == InterruptedIOException.class)
                .isTrue();
    }

    /** Hadoop's own socket factory under another name, hence with an RPC client of its own. */
    public static final class IsolatedSocketFactory extends StandardSocketFactory {}
}
