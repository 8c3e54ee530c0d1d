package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;

/**
 * Issue: a loopback PutObject failed with "Error writing request body to server" and was not
 * resent, which the request retries only do when the caller's interrupt flag is set. A server that
 * takes a request's head and then never reads its body: the client's body write blocks until the
 * SDK's attempt timeout ends it. Whatever the HTTP stack does to end the write, the caller's
 * interrupt flag must not be left set, and the request is resent.
 */
class S3InterruptFlagTest {

    @Test
    void aRequestWhoseBodyWriteIsEndedByTheAttemptTimeoutLeavesNoInterruptAndIsResent()
            throws Exception {
        ExecutorService accepts = Executors.newCachedThreadPool();
        Set<Socket> open = ConcurrentHashMap.newKeySet();
        AtomicInteger connections = new AtomicInteger();
        try (ServerSocket stall = new ServerSocket()) {
            stall.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            accepts.execute(
                    () -> {
                        while (!stall.isClosed()) {
                            try {
                                Socket s = stall.accept();
                                s.setReceiveBufferSize(4096);
                                open.add(s);
                                connections.incrementAndGet();
                                accepts.execute(() -> readHeadOnly(s));
                            } catch (IOException e) {
                                return;
                            }
                        }
                    });
            Configuration conf =
                    FlinkS3.config(URI.create("http://127.0.0.1:" + stall.getLocalPort()));
            conf.setString(S3StoreOptions.PART_ATTEMPTS.key(), "2");
            conf.setString(S3StoreOptions.REQUEST_TIMEOUT.key(), "1 s");
            S3Store store =
                    (S3Store) new S3StoreProvider().create(URI.create("s3://stalled/"), conf);
            try {
                assertThatThrownBy(
                                () ->
                                        store.upload(
                                                new SyntheticSource(12L << 20),
                                                new Path("s3://stalled/k")))
                        .isInstanceOf(IOException.class);
                assertThat(Thread.interrupted())
                        .as("the caller's interrupt flag after the request failed")
                        .isFalse();
            } finally {
                Thread.interrupted();
                store.close();
            }
        } finally {
            for (Socket s : open) {
                s.close();
            }
            accepts.shutdownNow();
            assertThat(accepts.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
        // HeadBucket (answered by nobody, timed out) plus one connection per PutObject attempt.
        assertThat(connections.get()).as("connections (attempts)").isGreaterThanOrEqualTo(3);
    }

    /** Reads the request head, then nothing more: the body write fills the socket buffers. */
    private static void readHeadOnly(Socket s) {
        try {
            InputStream in = s.getInputStream();
            int state = 0;
            while (state < 4) {
                int b = in.read();
                if (b < 0) {
                    return;
                }
                state = (b == '\r' || b == '\n') ? state + 1 : 0;
            }
            Thread.sleep(Long.MAX_VALUE);
        } catch (IOException | InterruptedException e) {
            // closed by the test
        }
    }
}
