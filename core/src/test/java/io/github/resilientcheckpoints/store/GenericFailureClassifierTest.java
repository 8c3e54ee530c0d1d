package io.github.resilientcheckpoints.store;

import static io.github.resilientcheckpoints.store.FailureClass.PERMANENT;
import static io.github.resilientcheckpoints.store.FailureClass.THROTTLED;
import static io.github.resilientcheckpoints.store.FailureClass.TRANSIENT;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.file.AccessDeniedException;
import org.junit.jupiter.api.Test;

class GenericFailureClassifierTest {

    @Test
    void throttlingSignalsAreRecognisedAnywhereInTheCauseChain() {
        assertThat(
                        GenericFailureClassifier.classify(
                                new IOException(
                                        "Please reduce your request rate. (Service: S3, Status Code: 503; Error Code: SlowDown)")))
                .isEqualTo(THROTTLED);
        assertThat(
                        GenericFailureClassifier.classify(
                                new IOException(
                                        "upload failed",
                                        new RuntimeException("HTTP 429 Too Many Requests"))))
                .isEqualTo(THROTTLED);
        assertThat(GenericFailureClassifier.classify(new IOException("Server too busy")))
                .isEqualTo(THROTTLED);
    }

    @Test
    void permanentFailures() {
        assertThat(GenericFailureClassifier.classify(new AccessDeniedException("/ckpt/x")))
                .isEqualTo(PERMANENT);
        assertThat(
                        GenericFailureClassifier.classify(
                                new FileNotFoundException("/ckpt/x (Not a directory)")))
                .isEqualTo(PERMANENT);
        assertThat(
                        GenericFailureClassifier.classify(
                                new IOException(
                                        "wrapped",
                                        new IOException(
                                                "The specified bucket does not exist (NoSuchBucket)"))))
                .isEqualTo(PERMANENT);
        assertThat(
                        GenericFailureClassifier.classify(
                                new IOException(
                                        "InvalidAccessKeyId: The AWS Access Key Id you provided does not exist")))
                .isEqualTo(PERMANENT);
        assertThat(
                        GenericFailureClassifier.classify(
                                new IllegalArgumentException("Illegal character in path")))
                .isEqualTo(PERMANENT);
    }

    @Test
    void everythingElseIsTransient() {
        assertThat(GenericFailureClassifier.classify(new SocketTimeoutException("Read timed out")))
                .isEqualTo(TRANSIENT);
        assertThat(GenericFailureClassifier.classify(new IOException("Connection reset by peer")))
                .isEqualTo(TRANSIENT);
        assertThat(
                        GenericFailureClassifier.classify(
                                new IOException("All datanodes are bad. Aborting...")))
                .isEqualTo(TRANSIENT);
    }

    @Test
    void likelyFixNamesWhatToDo() {
        assertThat(GenericFailureClassifier.likelyFix(new AccessDeniedException("/x")))
                .contains("write access");
        assertThat(GenericFailureClassifier.likelyFix(new IOException("NoSuchBucket")))
                .contains("create the bucket");
        assertThat(
                        GenericFailureClassifier.likelyFix(
                                new FileNotFoundException("/x (Not a directory)")))
                .contains("execution.checkpointing.dir");
    }
}
