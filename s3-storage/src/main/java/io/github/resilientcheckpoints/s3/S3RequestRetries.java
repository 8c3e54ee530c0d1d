package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.AttemptDeadline;
import io.github.resilientcheckpoints.store.Causes;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.StoreRequestCounters;
import io.github.resilientcheckpoints.time.Sleeper;
import io.github.resilientcheckpoints.time.Ticker;
import io.github.resilientcheckpoints.upload.RetryPolicy;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import javax.annotation.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.awscore.AwsRequestOverrideConfiguration;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * The S3 store's resends of single requests, through core's {@link RetryPolicy} with an injected
 * clock and waits: {@code s3.part-attempts} per request, backoff with full jitter from 100 ms to 2
 * s, no deadline of its own: the caller's {@link AttemptDeadline} (when set) bounds each request
 * and the resends, else the SDK's {@code s3.request-timeout} bounds each request. Classifies each
 * failure ({@link S3Failures}), tells the throttle about every SlowDown, and counts every resend
 * and throttled answer in the store's {@link StoreRequestCounters}.
 */
final class S3RequestRetries {

    private static final Logger LOG = LoggerFactory.getLogger(S3RequestRetries.class);

    private final RetryPolicy policy;
    private final Ticker ticker;
    private final Sleeper sleeper;
    private final StoreRequestCounters counters;
    private volatile Runnable throttleListener = () -> {};
    @Nullable private volatile Duration requestTimeout;

    S3RequestRetries(int attempts, Ticker ticker, Sleeper sleeper, StoreRequestCounters counters) {
        // The attempt timeout is the SDK's (s3.request-timeout); the deadline is the storage's.
        this.policy =
                new RetryPolicy(
                        attempts,
                        Duration.ofMillis(100),
                        Duration.ofSeconds(2),
                        Duration.ofDays(1));
        this.ticker = ticker;
        this.sleeper = sleeper;
        this.counters = counters;
    }

    /** Who to tell about every SlowDown / 429 answered to a request (the throttle). */
    void onThrottleSignal(Runnable listener) {
        this.throttleListener = listener;
    }

    /** The counters every request, resend and throttled answer is reported to. */
    StoreRequestCounters counters() {
        return counters;
    }

    /** What a request carries: decides how a 403 is read and which counter a resend goes to. */
    enum Payload {
        /** No file bytes (start or completion of a multipart upload). */
        NONE,
        /** A whole small file (PutObject). */
        OBJECT_BYTES,
        /**
         * A part of a multipart upload that these credentials already created: a signature
         * rejection (403) then means the signed body changed in transit, not bad credentials, and
         * the part is resent.
         */
        PART_BYTES
    }

    /**
     * Sends one request, resending it alone (up to {@code s3.part-attempts}) on a retryable
     * failure; throttle signals and resends are reported. A permanent failure or an interrupt ends
     * it at once.
     */
    <T> T send(
            String operation,
            String bucket,
            String key,
            Payload payload,
            Function<AwsRequestOverrideConfiguration, T> request)
            throws IOException {
        // The caller's attempt deadline, in this ticker's time, if it set one.
        OptionalLong left = AttemptDeadline.remainingNanos();
        long deadline = left.isPresent() ? ticker.nanoTime() + left.getAsLong() : noDeadline();
        List<RuntimeException> earlier = new ArrayList<>(0);
        for (int attempt = 1; ; attempt++) {
            if (Thread.currentThread().isInterrupted()) {
                throw new InterruptedIOException(
                        operation + " of s3://" + bucket + "/" + key + " was cancelled");
            }
            try {
                return request.apply(bounded());
            } catch (RuntimeException e) {
                S3RequestBodies.SourceFailure sourceFailure = sourceFailure(e);
                if (sourceFailure != null) {
                    // The staged bytes could not be read, not S3's fault: resending cannot help.
                    throw new IOException(
                            operation
                                    + " of s3://"
                                    + bucket
                                    + "/"
                                    + key
                                    + " failed reading the staged bytes: "
                                    + S3Failures.describe(sourceFailure),
                            sourceFailure);
                }
                IOException failure = S3Failures.wrap(operation, bucket, key, e);
                FailureClass c = S3Failures.classify(e);
                if (payload == Payload.PART_BYTES
                        && e instanceof S3Exception
                        && S3Failures.statusCode((S3Exception) e) == 403) {
                    c = FailureClass.TRANSIENT;
                }
                if (isInterrupt(e)) {
                    String why =
                            Thread.currentThread().isInterrupted()
                                    ? "the calling thread's interrupt flag was set"
                                    : "cancelled (an interrupt in the failure's causes)";
                    throw notResent(failure, why + " after attempt " + ofAll(attempt), earlier);
                }
                if (c == FailureClass.THROTTLED) {
                    counters.throttledResponse();
                    throttleListener.run();
                }
                RetryPolicy.Decision next = next(attempt, c, deadline);
                if (!next.retry()) {
                    if (S3Failures.isExpiredCredentials(e)) {
                        // The SDK resolved the credentials again for every resend: the provider did
                        // not refresh.
                        throw new S3Failures.ExpiredCredentials(
                                operation, bucket, key, attempt, (S3Exception) e);
                    }
                    throw notResent(failure, giveUpReason(next, attempt), earlier);
                }
                if (earlier.size() < MAX_KEPT_FAILURES) {
                    earlier.add(e);
                }
                LOG.debug(
                        "{} of s3://{}/{} failed on attempt {} ({}): {}; resending",
                        operation,
                        bucket,
                        key,
                        attempt,
                        c,
                        describe(e));
                if (payload != Payload.NONE) {
                    counters.dataRequestRetried();
                } else {
                    counters.otherRequestRetried();
                }
                pause(next.delayNanos());
            }
        }
    }

    /** At most this many earlier attempts' failures ride along on a give-up. */
    static final int MAX_KEPT_FAILURES = 8;

    /**
     * The failure that ends a request, its message saying why it was not resent (so a failure in a
     * log explains itself), the earlier attempts' failures attached as suppressed.
     */
    static IOException notResent(IOException failure, String why, List<RuntimeException> earlier) {
        IOException e =
                new IOException(
                        Causes.message(failure) + " [not resent: " + why + "]", failure.getCause());
        for (RuntimeException previous : earlier) {
            e.addSuppressed(previous);
        }
        return e;
    }

    private String giveUpReason(RetryPolicy.Decision decision, int attempt) {
        switch (decision.giveUpReason()) {
            case PERMANENT:
                return "a permanent failure, after attempt " + ofAll(attempt);
            case DEADLINE:
                return "the caller's attempt deadline leaves no time for attempt "
                        + ofAll(attempt + 1);
            case ATTEMPTS_EXHAUSTED:
            default:
                return "all "
                        + attempt
                        + " attempts failed ("
                        + S3StoreOptions.PART_ATTEMPTS.key()
                        + ")";
        }
    }

    /** "{@code attempt} of {@code s3.part-attempts}", for messages. */
    private String ofAll(int attempt) {
        return attempt + " of " + policy.maxAttempts();
    }

    /**
     * Whether a failure is a cancellation: an interrupt of this thread, or an interrupt or abort in
     * the causes. A socket or connect timeout ({@link java.net.SocketTimeoutException} extends
     * {@link InterruptedIOException}) is not: the store did not answer in time, worth a resend.
     */
    static boolean isInterrupt(Throwable e) {
        return Causes.isInterrupt(e) || Thread.currentThread().isInterrupted();
    }

    static S3RequestBodies.SourceFailure sourceFailure(Throwable e) {
        for (Throwable t : Causes.chain(e)) {
            if (t instanceof S3RequestBodies.SourceFailure) {
                return (S3RequestBodies.SourceFailure) t;
            }
        }
        return null;
    }

    /** A failure for the debug log, read without calling anything that could throw. */
    static String describe(Throwable e) {
        return e == null ? "null" : e.getClass().getName() + ": " + Causes.message(e);
    }

    /**
     * The per-request override that makes the SDK cut a request still unanswered at this thread's
     * {@link AttemptDeadline} (it aborts the connection, which an interrupt cannot), or {@code
     * null} (the client's {@code s3.request-timeout}) when there is none or it is later.
     */
    @Nullable
    AwsRequestOverrideConfiguration bounded() {
        OptionalLong left = AttemptDeadline.remainingNanos();
        if (left.isEmpty()) {
            return null;
        }
        Duration timeout = Duration.ofNanos(Math.max(MIN_REQUEST_TIMEOUT_NANOS, left.getAsLong()));
        Duration configured = requestTimeout;
        if (configured != null && configured.compareTo(timeout) <= 0) {
            return null;
        }
        return AwsRequestOverrideConfiguration.builder().apiCallAttemptTimeout(timeout).build();
    }

    /** The shortest time a request is given, even when its attempt's time is (nearly) up. */
    static final long MIN_REQUEST_TIMEOUT_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    /** The client's own per-request timeout ({@code s3.request-timeout}), if known. */
    void requestTimeout(@Nullable Duration timeout) {
        this.requestTimeout = timeout;
    }

    /** A deadline that never ends a request's resends: only the attempt cap does. */
    long noDeadline() {
        return ticker.nanoTime() + Duration.ofDays(1).toNanos();
    }

    /** Whether, and after how long, attempt {@code attempt + 1} follows a failure of this class. */
    RetryPolicy.Decision next(int attempt, FailureClass failureClass, long deadlineNanos) {
        return policy.onFailure(
                attempt,
                failureClass,
                ticker.nanoTime(),
                deadlineNanos,
                ThreadLocalRandom.current()::nextDouble);
    }

    /** Waits between two attempts; an interrupt ends the request. */
    void pause(long nanos) throws InterruptedIOException {
        try {
            sleeper.sleepNanos(nanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted between S3 request attempts");
        }
    }
}
