package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.fail;

import io.github.resilientcheckpoints.store.StoreRequestCounters;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.awscore.AwsRequestOverrideConfiguration;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Whatever an SDK, a proxy or user code throws, the classifiers and message builders of the S3
 * store return normally: random exception chains with missing error details, null codes and
 * messages, odd status codes, cause cycles, endless cause chains, suppressed exceptions and methods
 * that throw. Seeded, so a failing case is reproduced by its seed and index.
 */
class S3FailuresPropertyTest {

    private static final long SEED = 0x5EED_22L;
    private static final int CASES = 5_000;
    private static final int[] STATUSES = {
        0, -1, 999, 200, 301, 400, 403, 404, 409, 412, 429, 500, 502, 503, 504
    };
    private static final String[] CODES = {
        null,
        "",
        " ",
        "SlowDown",
        "ServiceUnavailable",
        "ExpiredToken",
        "InvalidToken",
        "AccessDenied",
        "NoSuchBucket",
        "InvalidAccessKeyId",
        "PreconditionFailed",
        "ConditionalRequestConflict",
        "RequestTimeTooSkewed",
        "RequestTimeout",
        "InternalError",
        "\u0000weird\uFFFF"
    };

    /** Each case runs on this thread: a walk that never ends fails the case instead of the JVM. */
    private ExecutorService runner;

    @BeforeEach
    void start() {
        runner =
                Executors.newSingleThreadExecutor(
                        r -> {
                            Thread t = new Thread(r, "s3-failures-property");
                            t.setDaemon(true);
                            return t;
                        });
    }

    @AfterEach
    void stop() throws InterruptedException {
        runner.shutdownNow();
        // A case that loops forever cannot be stopped; the failure above already says which.
        runner.awaitTermination(1, TimeUnit.SECONDS);
    }

    @Test
    void classifiersAndMessageBuildersReturnNormallyWhateverTheyAreHanded() throws Exception {
        Random random = new Random(SEED);
        for (int i = 0; i < CASES; i++) {
            long caseSeed = random.nextLong();
            Throwable failure = randomFailure(new Random(caseSeed), 0);
            String what = "case " + i + " (seed " + caseSeed + ")";
            within(
                    what,
                    () -> {
                        assertThat(S3Failures.classify(failure)).as(what).isNotNull();
                        S3Failures.isExpiredCredentials(failure);
                        S3Failures.isCredentialLoadingFailure(failure);
                        S3RequestRetries.isInterrupt(failure);
                        S3RequestRetries.sourceFailure(failure);
                        S3RequestRetries.describe(failure);
                        S3Failures.describe(failure);
                        S3Failures.s3Answer(failure);
                        RuntimeException runtime =
                                failure instanceof RuntimeException
                                        ? (RuntimeException) failure
                                        : new RuntimeException(failure);
                        IOException wrapped = S3Failures.wrap("PutObject", "b", "k", runtime);
                        assertThat(wrapped).as(what).isNotNull();
                        assertThat(wrapped.getMessage()).as(what).contains("s3://b/k");
                        assertThat(S3Failures.classify(wrapped)).as(what).isNotNull();
                        if (failure instanceof S3Exception) {
                            assertThat(
                                            new S3Failures.ExpiredCredentials(
                                                    "PutObject",
                                                    "b",
                                                    "k",
                                                    3,
                                                    (S3Exception) failure))
                                    .as(what)
                                    .hasMessageContaining("s3://b/k");
                        }
                        return null;
                    });
        }
    }

    /**
     * A request whose every attempt throws a random failure ends with an IOException (or returns,
     * for a resend that succeeds), never with whatever a classifier threw.
     */
    @Test
    void requestResendsEndWithAnIoExceptionWhateverTheRequestThrows() throws Exception {
        Random random = new Random(SEED + 1);
        S3RequestRetries retries =
                new S3RequestRetries(3, System::nanoTime, nanos -> {}, new StoreRequestCounters());
        for (int i = 0; i < CASES / 5; i++) {
            long caseSeed = random.nextLong();
            Random r = new Random(caseSeed);
            List<RuntimeException> failures = new ArrayList<>();
            for (int a = 0; a < 3; a++) {
                Throwable t = randomFailure(r, 0);
                failures.add(t instanceof RuntimeException ? (RuntimeException) t : wrapped(t));
            }
            AtomicInteger attempt = new AtomicInteger();
            Function<AwsRequestOverrideConfiguration, String> request =
                    override -> {
                        throw failures.get(Math.min(attempt.getAndIncrement(), 2));
                    };
            String what = "case " + i + " (seed " + caseSeed + ")";
            within(
                    what,
                    () -> {
                        assertThatCode(
                                        () -> {
                                            try {
                                                retries.send(
                                                        "PutObject",
                                                        "b",
                                                        "k",
                                                        S3RequestRetries.Payload.OBJECT_BYTES,
                                                        request);
                                            } catch (IOException expected) {
                                                assertThat(expected.getMessage())
                                                        .contains("s3://b/k");
                                            }
                                        })
                                .as(what)
                                .doesNotThrowAnyException();
                        Thread.interrupted(); // no interrupt leaks into the next case
                        return null;
                    });
        }
    }

    @Test
    void aCauseCycleOfTwoEndsTheWalk() throws Exception {
        IOException a = new IOException("a");
        IOException b = new IOException("b", a);
        a.initCause(b);
        within(
                "A -> B -> A",
                () -> {
                    S3Failures.classify(a);
                    S3Failures.isCredentialLoadingFailure(a);
                    S3RequestRetries.isInterrupt(a);
                    S3RequestRetries.sourceFailure(a);
                    return null;
                });
    }

    @Test
    void aReadTimeoutIsNotAnInterrupt() {
        SdkClientException timeout =
                SdkClientException.create(
                        "Unable to execute HTTP request: Read timed out",
                        new SocketTimeoutException("Read timed out"));
        assertThat(S3RequestRetries.isInterrupt(timeout)).isFalse();
        assertThat(
                        S3RequestRetries.isInterrupt(
                                SdkClientException.create(
                                        "cancelled", new InterruptedIOException("cancelled"))))
                .isTrue();
    }

    private void within(String what, java.util.concurrent.Callable<Void> check) throws Exception {
        Future<Void> f = runner.submit(check);
        try {
            f.get(Duration.ofSeconds(10).toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            fail(what + ": did not return within 10 s (an endless cause walk?)");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof AssertionError) {
                throw (AssertionError) e.getCause();
            }
            throw new AssertionError(what + ": threw " + e.getCause(), e.getCause());
        }
    }

    private static RuntimeException wrapped(Throwable t) {
        return new RuntimeException(t);
    }

    /** A random failure, possibly with causes, cycles and suppressed exceptions. */
    static Throwable randomFailure(Random r, int depth) {
        Throwable t;
        switch (r.nextInt(depth > 3 ? 6 : 11)) {
            case 0:
                t = s3Exception(r);
                break;
            case 1:
                t = SdkClientException.builder().message(r.nextBoolean() ? null : "x").build();
                break;
            case 2:
                t = new ThrowingMessage();
                break;
            case 3:
                t = new IOException(r.nextBoolean() ? null : "connection reset");
                break;
            case 4:
                t = new SocketTimeoutException(r.nextBoolean() ? null : "Read timed out");
                break;
            case 5:
                t = new InterruptedIOException();
                break;
            case 6:
                {
                    // A -> B -> A
                    Throwable a = randomFailure(r, depth + 1);
                    Throwable b = new IOException("b", a);
                    tryInitCause(a, b);
                    t = r.nextBoolean() ? a : b;
                    break;
                }
            case 7:
                t = new EndlessCauses(r.nextInt(3));
                break;
            case 8:
                t = new SelfCause();
                break;
            case 9:
                t = new ThrowingCause();
                break;
            default:
                {
                    Throwable cause = randomFailure(r, depth + 1);
                    String message = r.nextBoolean() ? null : "Unable to execute HTTP request";
                    try {
                        t = SdkClientException.builder().message(message).cause(cause).build();
                    } catch (RuntimeException e) {
                        // The SDK reads a null message from the cause, whose getMessage() threw.
                        t = SdkClientException.builder().message("x").cause(cause).build();
                    }
                    break;
                }
        }
        if (depth < 4 && r.nextInt(3) == 0) {
            tryInitCause(t, randomFailure(r, depth + 1));
        }
        if (depth < 4 && r.nextInt(4) == 0) {
            try {
                t.addSuppressed(randomFailure(r, depth + 1));
            } catch (RuntimeException ignored) {
                // a cycle through suppressed exceptions is refused: fine
            }
        }
        return t;
    }

    private static void tryInitCause(Throwable t, Throwable cause) {
        try {
            t.initCause(cause);
        } catch (RuntimeException ignored) {
            // already has a cause, or would cause itself
        }
    }

    private static S3Exception s3Exception(Random r) {
        S3Exception.Builder b =
                S3Exception.builder().statusCode(STATUSES[r.nextInt(STATUSES.length)]);
        if (r.nextBoolean()) {
            b.message(r.nextBoolean() ? null : "msg");
        }
        int details = r.nextInt(4);
        if (details == 1) {
            b.awsErrorDetails(
                    AwsErrorDetails.builder().errorCode(CODES[r.nextInt(CODES.length)]).build());
        } else if (details == 2) {
            b.awsErrorDetails(
                    AwsErrorDetails.builder()
                            .errorCode(CODES[r.nextInt(CODES.length)])
                            .errorMessage(r.nextBoolean() ? null : "m")
                            .serviceName(r.nextBoolean() ? null : "S3")
                            .build());
        }
        if (details == 3) {
            return new ThrowingS3Exception(b);
        }
        return (S3Exception) b.build();
    }

    /** An S3 exception whose every accessor throws. */
    private static final class ThrowingS3Exception extends S3Exception {
        private static final long serialVersionUID = 1L;

        ThrowingS3Exception(S3Exception.Builder b) {
            super(b);
        }

        @Override
        public String getMessage() {
            throw new IllegalStateException("getMessage throws");
        }

        @Override
        public AwsErrorDetails awsErrorDetails() {
            throw new IllegalStateException("awsErrorDetails throws");
        }

        @Override
        public int statusCode() {
            throw new IllegalStateException("statusCode throws");
        }
    }

    private static final class ThrowingMessage extends RuntimeException {
        private static final long serialVersionUID = 1L;

        @Override
        public String getMessage() {
            throw new IllegalStateException("getMessage throws");
        }
    }

    /** A chain that never ends: every getCause() is a fresh exception. */
    private static final class EndlessCauses extends IOException {
        private static final long serialVersionUID = 1L;
        private final int kind;

        EndlessCauses(int kind) {
            super("endless " + kind);
            this.kind = kind;
        }

        @Override
        public synchronized Throwable getCause() {
            return kind == 0 ? new EndlessCauses(1) : new EndlessCauses(kind == 1 ? 2 : 0);
        }
    }

    private static final class SelfCause extends RuntimeException {
        private static final long serialVersionUID = 1L;

        @Override
        public synchronized Throwable getCause() {
            return this;
        }
    }

    private static final class ThrowingCause extends IOException {
        private static final long serialVersionUID = 1L;

        @Override
        public synchronized Throwable getCause() {
            throw new IllegalStateException("getCause throws");
        }
    }
}
