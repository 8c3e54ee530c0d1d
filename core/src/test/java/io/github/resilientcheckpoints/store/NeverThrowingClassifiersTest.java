package io.github.resilientcheckpoints.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import io.github.resilientcheckpoints.upload.Redactor;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;

/**
 * Classifiers and message builders see whatever a store, an SDK or a proxy threw. Fed random
 * exception chains (null and empty messages, cause cycles of any length, suppressed exceptions, a
 * {@code getMessage()} that throws), none of them throws or loops, and each returns an answer.
 */
class NeverThrowingClassifiersTest {

    private static final int CASES = 5_000;

    @Test
    void classifiersAndMessageBuildersNeverThrowWhateverTheyAreHanded() {
        Random random = new Random(20261206L);
        Redactor redactor =
                Redactor.fromConfig(
                        Configuration.fromMap(
                                java.util.Map.of("s3.secret-key", "do-not-print-me")));
        List<Throwable> seen = new ArrayList<>();
        for (int i = 0; i < CASES; i++) {
            Throwable failure = randomChain(random);
            seen.add(failure);
            assertThatCode(
                            () -> {
                                assertThat(GenericFailureClassifier.classify(failure)).isNotNull();
                                assertThat(GenericFailureClassifier.likelyFix(failure)).isNotNull();
                                assertThat(redactor.describe(failure))
                                        .isNotNull()
                                        .doesNotContain("do-not-print-me");
                                assertThat(Causes.chain(failure)).hasSizeLessThanOrEqualTo(32);
                                Causes.isInterrupt(failure);
                                Causes.message(failure);
                            })
                    .as("case %d: %s", i, safeName(failure))
                    .doesNotThrowAnyException();
        }
        assertThat(seen).hasSize(CASES);
        assertThat(GenericFailureClassifier.classify(null)).isNotNull();
        assertThat(redactor.describe(null)).isNotNull();
        assertThat(Causes.chain(null)).isEmpty();
    }

    @Test
    void timeoutsAreNotInterruptsButRealInterruptsAre() {
        assertThat(Causes.isInterrupt(new SocketTimeoutException("Read timed out"))).isFalse();
        assertThat(Causes.isInterrupt(new IOException("x", new SocketTimeoutException())))
                .isFalse();
        assertThat(Causes.isInterrupt(new InterruptedIOException("cancelled"))).isTrue();
        assertThat(Causes.isInterrupt(new IOException(new InterruptedException()))).isTrue();
        assertThat(Causes.isInterrupt(new ClosedByInterruptException())).isTrue();
        assertThat(GenericFailureClassifier.classify(new SocketTimeoutException("Read timed out")))
                .isEqualTo(FailureClass.TRANSIENT);
    }

    @Test
    void aLongCauseCycleEndsTheWalk() {
        IOException a = new IOException("a");
        IOException b = new IOException("b", a);
        IOException c = new IOException("c", b);
        a.initCause(c);
        assertThat(Causes.chain(a)).containsExactly(a, c, b);
        assertThat(GenericFailureClassifier.classify(a)).isEqualTo(FailureClass.TRANSIENT);
    }

    private static String safeName(Throwable t) {
        return t == null ? "null" : t.getClass().getName();
    }

    private static final List<Function<String, Throwable>> KINDS =
            List.of(
                    IOException::new,
                    m -> new SocketTimeoutException(m),
                    m -> new ConnectException(m),
                    m -> new SocketException(m),
                    m -> new UnknownHostException(m),
                    m -> new InterruptedIOException(m),
                    m -> new FileNotFoundException(m),
                    m -> new AccessDeniedException(m, null, m),
                    m -> new FileAlreadyExistsException(m),
                    m -> new UncheckedIOException(m, new IOException(m)),
                    RuntimeException::new,
                    IllegalStateException::new,
                    m -> new NullPointerException(m),
                    m -> new Error(m),
                    m -> new ThrowingMessage(),
                    m -> new NullClassName(m));

    private static final String[] MESSAGES = {
        null,
        "",
        "503 Slow Down",
        "Status Code: 503",
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        "Access Denied",
        "Read timed out",
        "Connection reset",
        "s3://bucket/key?X-Amz-Signature=do-not-print-me",
        "quota exceeded",
        "\u0000\uFFFF",
    };

    private static Throwable randomChain(Random random) {
        int length = random.nextInt(6);
        List<Throwable> chain = new ArrayList<>();
        for (int i = 0; i <= length; i++) {
            String message = MESSAGES[random.nextInt(MESSAGES.length)];
            Throwable t = KINDS.get(random.nextInt(KINDS.size())).apply(message);
            if (random.nextInt(4) == 0) {
                t.addSuppressed(KINDS.get(random.nextInt(KINDS.size())).apply(message));
            }
            chain.add(t);
        }
        for (int i = 0; i + 1 < chain.size(); i++) {
            link(chain.get(i), chain.get(i + 1));
        }
        if (random.nextInt(3) == 0 && !chain.isEmpty()) {
            // A cycle back to any earlier exception.
            link(chain.get(chain.size() - 1), chain.get(random.nextInt(chain.size())));
        }
        return chain.get(0);
    }

    private static void link(Throwable from, Throwable to) {
        try {
            from.initCause(to);
        } catch (IllegalStateException | IllegalArgumentException alreadySet) {
            // constructors that set a cause, or a self-cause: the chain stays as it is
        }
    }

    /** A getMessage() that fails, as some SDK exceptions do when a field is missing. */
    private static final class ThrowingMessage extends IOException {
        private static final long serialVersionUID = 1L;

        @Override
        public String getMessage() {
            throw new IllegalStateException("no message for you");
        }
    }

    /** An anonymous-like type: getSimpleName() is empty. */
    private static final class NullClassName extends IOException {
        private static final long serialVersionUID = 1L;

        NullClassName(String message) {
            super(message);
        }
    }
}
