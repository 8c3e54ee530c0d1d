package io.github.resilientcheckpoints.upload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The one retry loop under both overrun policies, with the same operation: what differs is only
 * what becomes of an attempt that overran.
 */
class RetryLoopTest {

    private final ExecutorService threads = Executors.newCachedThreadPool();
    private final CountDownLatch release = new CountDownLatch(1);

    @AfterEach
    void stopThreads() throws InterruptedException {
        release.countDown();
        threads.shutdownNow();
        assertThat(threads.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    /** Three attempts of 300 ms each at most, no backoff. */
    private RetryLoop loop(RetryLoop.Overrun overrun) {
        RetryPolicy policy =
                new RetryPolicy(3, Duration.ZERO, Duration.ZERO, Duration.ofMillis(300));
        return new RetryLoop(policy, overrun, threads, Ticker.SYSTEM, Sleeper.SYSTEM, () -> 0.5);
    }

    private static long in(Duration d) {
        return System.nanoTime() + d.toNanos();
    }

    /**
     * Attempt 1 hangs, and when interrupted goes on for another 200 ms (a store call that cleans up
     * before it returns); attempt 2 succeeds. Records the attempts that overlapped.
     */
    private class Recorder implements RetryLoop.Operation<String> {
        final AtomicInteger running = new AtomicInteger();
        final AtomicInteger mostAtOnce = new AtomicInteger();
        final List<String> events = new CopyOnWriteArrayList<>();
        final boolean ignoreInterrupts;

        Recorder(boolean ignoreInterrupts) {
            this.ignoreInterrupts = ignoreInterrupts;
        }

        @Override
        public RetryLoop.Attempt<String> attempt(int attempt) {
            events.add("start " + attempt);
            return new RetryLoop.Attempt<>() {
                @Override
                public String call() throws IOException {
                    mostAtOnce.accumulateAndGet(running.incrementAndGet(), Math::max);
                    try {
                        if (attempt == 1) {
                            hang();
                        }
                        return "written by " + attempt;
                    } finally {
                        running.decrementAndGet();
                    }
                }

                @Override
                public void lost(AttemptRun<String> run) {
                    events.add("lost " + attempt);
                }
            };
        }

        private void hang() throws IOException {
            try {
                release.await();
            } catch (InterruptedException e) {
                if (ignoreInterrupts) {
                    awaitRelease();
                } else {
                    sleepQuietly(200);
                }
                throw new InterruptedIOException("interrupted");
            }
        }

        private void awaitRelease() {
            try {
                release.await();
            } catch (InterruptedException again) {
                Thread.currentThread().interrupt();
            }
        }

        private void sleepQuietly(long millis) {
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
            while (System.nanoTime() < end) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException ignored) {
                    // the attempt cleans up whatever happens
                }
            }
        }

        @Override
        public FailureClass classify(Throwable failure) {
            return FailureClass.TRANSIENT;
        }

        @Override
        public void failed(int attempt, FailureClass failureClass, boolean timedOut) {
            events.add("failed " + attempt + (timedOut ? " (timed out)" : ""));
        }

        @Override
        public void retrying(int attempt, FailureClass c, Throwable failure, long delayNanos) {}

        @Override
        public IOException giveUp(
                RetryPolicy.GiveUpReason reason, int attempts, FailureClass c, Throwable last) {
            return new IOException("gave up: " + reason + " after " + attempts);
        }

        @Override
        public InterruptedIOException cancelled(boolean interrupted) {
            return new InterruptedIOException(interrupted ? "interrupted" : "cancelled");
        }

        @Override
        public IOException didNotStop() {
            return new IOException("did not stop");
        }
    }

    @Test
    void anAwaitedOverrunEndsBeforeTheNextAttemptStarts() throws IOException {
        Recorder op = new Recorder(false);

        String result = loop(RetryLoop.Overrun.AWAIT).run(op, in(Duration.ofSeconds(30)));

        assertThat(result).isEqualTo("written by 2");
        assertThat(op.mostAtOnce.get()).as("attempts on the same path never overlap").isEqualTo(1);
        assertThat(op.events)
                .containsExactly("start 1", "lost 1", "failed 1 (timed out)", "start 2");
    }

    @Test
    void anAbandonedOverrunIsDiscardedAndTheNextAttemptStartsAtOnce() throws IOException {
        // Attempt 1 ignores its interrupt and runs on until released: abandoning must not wait.
        Recorder op = new Recorder(true);

        String result = loop(RetryLoop.Overrun.ABANDON).run(op, in(Duration.ofSeconds(30)));

        assertThat(result).isEqualTo("written by 2");
        assertThat(op.events)
                .containsExactly("start 1", "lost 1", "failed 1 (timed out)", "start 2");
        // Attempt 1, if it started, is still blocked until the test ends: returning at all shows
        // that the loop did not wait for it.
    }

    @Test
    void anAwaitedOverrunThatNeverStopsEndsTheLoopAtTheDeadline() {
        Recorder op = new Recorder(true);

        assertThatThrownBy(() -> loop(RetryLoop.Overrun.AWAIT).run(op, in(Duration.ofSeconds(1))))
                .hasMessage("did not stop");
        assertThat(op.events).containsExactly("start 1");
    }

    @Test
    void anAwaitedAttemptThatIsNotTheLastGetsHalfOfTheTimeLeft() {
        RetryLoop awaited = loop(RetryLoop.Overrun.AWAIT);
        RetryLoop abandoned = loop(RetryLoop.Overrun.ABANDON);
        long fourSeconds = TimeUnit.SECONDS.toNanos(4);

        assertThat(awaited.budget(1, fourSeconds)).isEqualTo(fourSeconds / 2);
        assertThat(awaited.budget(3, fourSeconds)).as("the last attempt").isEqualTo(fourSeconds);
        assertThat(awaited.budget(1, TimeUnit.MILLISECONDS.toNanos(1500)))
                .as("never less than a second while that much is left")
                .isEqualTo(RetryLoop.MIN_ATTEMPT_SHARE_NANOS);
        assertThat(abandoned.budget(1, fourSeconds)).isEqualTo(fourSeconds);
    }

    @Test
    void aSocketTimeoutFromTheStoreIsAFailureToRetryNotACancellation() throws IOException {
        AtomicInteger calls = new AtomicInteger();
        Recorder op =
                new Recorder(false) {
                    @Override
                    public RetryLoop.Attempt<String> attempt(int attempt) {
                        events.add("start " + attempt);
                        return () -> {
                            if (calls.incrementAndGet() == 1) {
                                throw new SocketTimeoutException("Read timed out");
                            }
                            return "written by " + attempt;
                        };
                    }
                };

        String result = loop(RetryLoop.Overrun.AWAIT).run(op, in(Duration.ofSeconds(30)));

        assertThat(result).isEqualTo("written by 2");
        assertThat(op.events).containsExactly("start 1", "failed 1", "start 2");
        assertThat(Thread.currentThread().isInterrupted()).isFalse();
    }

    @Test
    void aCancellationDuringTheBackoffEndsTheLoopWithoutAnotherAttempt() {
        RetryPolicy policy =
                new RetryPolicy(
                        3, Duration.ofSeconds(20), Duration.ofSeconds(20), Duration.ofSeconds(1));
        RetryLoop slow =
                new RetryLoop(
                        policy,
                        RetryLoop.Overrun.ABANDON,
                        threads,
                        Ticker.SYSTEM,
                        Sleeper.SYSTEM,
                        () -> 0.99);
        CompletableFuture<Void> cancellation = new CompletableFuture<>();
        Recorder op =
                new Recorder(false) {
                    @Override
                    public RetryLoop.Attempt<String> attempt(int attempt) {
                        events.add("start " + attempt);
                        return () -> {
                            cancellation.complete(null);
                            throw new IOException("503");
                        };
                    }
                };

        assertThatThrownBy(() -> slow.run(op, in(Duration.ofSeconds(60)), cancellation))
                .isInstanceOf(InterruptedIOException.class)
                .hasMessage("cancelled");
        assertThat(op.events).doesNotContain("start 2");
        assertThat(Thread.currentThread().isInterrupted()).isFalse();
    }
}
