package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.github.resilientcheckpoints.store.FailureClass;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.hadoop.ipc.RemoteException;
import org.apache.hadoop.net.ConnectTimeoutException;
import org.apache.hadoop.security.AccessControlException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The classifier and the store's message builder are handed whatever a client, a proxy or user code
 * threw: they must return, without throwing, for any exception graph. Random graphs from a fixed
 * seed (a failure names the seed and the case): Hadoop {@link RemoteException}s with null or
 * unknown class names and null messages, cause cycles, suppressed exceptions (cycles there too),
 * self-causes, deep chains, and exceptions whose {@code getMessage()}, {@code getCause()} or {@code
 * toString()} throw.
 */
class HdfsFailureClassifierPropertyTest {

    static final long SEED = 0x5EED_22L;
    static final int CASES = 3_000;

    /**
     * Runs each case on its own thread, so that one that loops forever fails instead of hanging.
     */
    private ExecutorService runner;

    @BeforeEach
    void startRunner() {
        runner =
                Executors.newSingleThreadExecutor(
                        r -> {
                            Thread t = new Thread(r, "classifier-property");
                            t.setDaemon(true);
                            return t;
                        });
    }

    @AfterEach
    void stopRunner() throws InterruptedException {
        runner.shutdownNow();
        runner.awaitTermination(10, TimeUnit.SECONDS);
    }

    @Test
    void classifyAndDescribeReturnForAnyExceptionGraph() throws Exception {
        Random random = new Random(SEED);
        List<Throwable> graphs = new ArrayList<>();
        for (int i = 0; i < CASES; i++) {
            graphs.add(graph(random));
        }
        Future<?> run =
                runner.submit(
                        () -> {
                            for (int i = 0; i < graphs.size(); i++) {
                                Throwable failure = graphs.get(i);
                                try {
                                    FailureClass c = HdfsFailureClassifier.classify(failure);
                                    assertThat(c).as("case %d: a class", i).isNotNull();
                                    String text = HdfsFailures.describe(failure);
                                    assertThat(text).as("case %d: a description", i).isNotNull();
                                } catch (Throwable t) {
                                    throw new AssertionError(
                                            "case " + i + " (seed " + SEED + ") threw " + t, t);
                                }
                            }
                            return null;
                        });
        try {
            run.get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw (Error) e.getCause();
        } catch (TimeoutException e) {
            fail(
                    "classify/describe did not return within 60 s for the cases of seed "
                            + SEED
                            + ": a cause cycle is walked forever");
        }
    }

    @Test
    void aTwoElementCauseCycleIsClassified() throws Exception {
        IOException a = new IOException("a");
        IOException b = new IOException("b", a);
        a.initCause(b);
        Future<FailureClass> c = runner.submit(() -> HdfsFailureClassifier.classify(a));
        try {
            assertThat(c.get(10, TimeUnit.SECONDS)).isEqualTo(FailureClass.TRANSIENT);
        } catch (TimeoutException e) {
            fail("classify(A->B->A) did not return within 10 s");
        }
    }

    private static Throwable graph(Random random) {
        int n = 1 + random.nextInt(random.nextInt(10) == 0 ? 60 : 6);
        List<Throwable> nodes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            nodes.add(node(random));
        }
        // Chain them: each the cause of the one before, when it still accepts a cause.
        for (int i = 0; i + 1 < n; i++) {
            setCause(nodes.get(i), nodes.get(i + 1));
        }
        Throwable last = nodes.get(n - 1);
        switch (random.nextInt(4)) {
            case 0: // a cycle back to a random earlier node (or itself)
                setCause(last, nodes.get(random.nextInt(n)));
                break;
            case 1: // suppressed exceptions, possibly pointing back up the chain
                for (int k = random.nextInt(3); k >= 0; k--) {
                    Throwable holder = nodes.get(random.nextInt(n));
                    Throwable other = nodes.get(random.nextInt(n));
                    if (holder != other) {
                        holder.addSuppressed(other);
                    }
                    holder.addSuppressed(node(random));
                }
                break;
            default:
                break;
        }
        return nodes.get(0);
    }

    private static void setCause(Throwable t, Throwable cause) {
        try {
            t.initCause(cause);
        } catch (IllegalStateException | IllegalArgumentException alreadySetOrSelf) {
            // its cause is fixed (constructor) or it is itself
        }
    }

    private static String message(Random random) {
        switch (random.nextInt(8)) {
            case 0:
            case 1:
                return null;
            case 2:
                return "";
            case 3:
                return "Permission denied: user=flink, access=WRITE";
            case 4:
                return "The DiskSpace quota of /ckpt is exceeded";
            case 5:
                return "Server too busy";
            case 6:
                return "\u0000\uFFFF" + random.nextLong();
            default:
                return "failed " + random.nextInt();
        }
    }

    private static String className(Random random) {
        switch (random.nextInt(8)) {
            case 0:
            case 1:
                return null;
            case 2:
                return "";
            case 3:
                return "com.example.NotOnTheClasspath$Inner";
            case 4:
                return "org.apache.hadoop.hdfs.server.namenode.SafeModeException";
            case 5:
                return "org.apache.hadoop.security.AccessControlException";
            case 6:
                return "org.apache.hadoop.ipc.CallQueueManager$CallQueueOverflowException";
            default:
                return "java.io.IOException";
        }
    }

    private static Throwable node(Random random) {
        String m = message(random);
        switch (random.nextInt(14)) {
            case 0:
            case 1:
                return new RemoteException(className(random), m);
            case 2:
                return new IOException(m);
            case 3:
                return new SocketTimeoutException(m);
            case 4:
                return new ConnectTimeoutException(m);
            case 5:
                return new InterruptedIOException(m);
            case 6:
                return new ConnectException(m);
            case 7:
                return new AccessControlException(m);
            case 8:
                return new RuntimeException(m);
            case 9:
                return new FileNotFoundException(m);
            case 10:
                return new HostileMessage(m);
            case 11:
                return new HostileCause(m);
            case 12:
                return new HostileEverything();
            default:
                return new Error(m);
        }
    }

    /** An exception whose {@code getMessage()} throws. */
    static final class HostileMessage extends IOException {
        HostileMessage(String m) {
            super(m);
        }

        @Override
        public String getMessage() {
            throw new IllegalStateException("message unavailable");
        }
    }

    /** An exception whose {@code getCause()} throws. */
    static final class HostileCause extends IOException {
        HostileCause(String m) {
            super(m);
        }

        @Override
        public synchronized Throwable getCause() {
            throw new UnsupportedOperationException("no cause for you");
        }
    }

    /** Everything a message builder might call throws. */
    static final class HostileEverything extends RuntimeException {
        @Override
        public String getMessage() {
            throw new NullPointerException();
        }

        @Override
        public String getLocalizedMessage() {
            throw new NullPointerException();
        }

        @Override
        public String toString() {
            throw new NullPointerException();
        }
    }
}
