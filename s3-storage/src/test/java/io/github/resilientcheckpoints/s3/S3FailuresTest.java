package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.StoreRequestCounters;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/** Classification of S3 answers and SDK failures. */
class S3FailuresTest {

    private static S3Exception s3(int status, String code) {
        return (S3Exception)
                S3Exception.builder()
                        .statusCode(status)
                        .message(code)
                        .awsErrorDetails(AwsErrorDetails.builder().errorCode(code).build())
                        .build();
    }

    @ParameterizedTest
    @ValueSource(strings = {"InvalidArgument", "EntityTooLarge"})
    void requestsS3CallsInvalidArePermanent(String code) {
        assertThat(S3Failures.classify(s3(400, code))).isEqualTo(FailureClass.PERMANENT);
    }

    @ParameterizedTest
    @ValueSource(strings = {"BadDigest", "RequestTimeout", "XAmzContentSHA256Mismatch"})
    void otherBadRequestsAreStillResent(String code) {
        assertThat(S3Failures.classify(s3(400, code))).isEqualTo(FailureClass.TRANSIENT);
    }

    @ParameterizedTest
    @ValueSource(strings = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"})
    void rejectedCredentialsArePermanentAndNameTheKeys(String code) {
        S3Exception e = s3(403, code);
        assertThat(S3Failures.classify(e)).isEqualTo(FailureClass.PERMANENT);
        assertThat(S3Failures.wrap("PutObject", "b", "k", e).getMessage())
                .contains("'s3.access-key'")
                .contains("'s3.secret-key'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"ExpiredToken", "InvalidToken"})
    void expiredTemporaryCredentialsAreResentWithRefreshedOnes(String code) {
        assertThat(S3Failures.classify(s3(400, code))).isEqualTo(FailureClass.TRANSIENT);
        assertThat(S3Failures.classify(s3(403, code))).isEqualTo(FailureClass.TRANSIENT);
        assertThat(
                        S3Failures.classify(
                                new S3Failures.ExpiredCredentials(
                                        "PutObject", "b", "k", 4, s3(400, code))))
                .isEqualTo(FailureClass.PERMANENT);
    }

    @Test
    void credentialsThatCannotBeLoadedArePermanentEvenWrapped() {
        SdkClientException e =
                SdkClientException.create(
                        "Unable to load credentials from any of the providers in the chain AwsCredentialsProviderChain(...)");
        assertThat(S3Failures.classify(e)).isEqualTo(FailureClass.PERMANENT);
        assertThat(S3Failures.classify(new IOException("PutObject failed", e)))
                .isEqualTo(FailureClass.PERMANENT);
        assertThat(S3Failures.wrap("PutObject", "b", "k", e).getMessage())
                .contains("No S3 credentials could be loaded")
                .contains("'s3.access-key'");
    }

    @Test
    void otherClientFailuresStayTransient() {
        assertThat(
                        S3Failures.classify(
                                SdkClientException.create(
                                        "Unable to execute HTTP request: Connection reset")))
                .isEqualTo(FailureClass.TRANSIENT);
    }

    /** What the SDK makes of a 503 with an empty body: error details without an error code. */
    private static S3Exception withoutCode(int status) {
        return (S3Exception)
                S3Exception.builder()
                        .statusCode(status)
                        .awsErrorDetails(AwsErrorDetails.builder().build())
                        .build();
    }

    @Test
    void a503WithoutAnErrorCodeIsThrottledAndNotExpiredCredentials() {
        assertThat(S3Failures.classify(withoutCode(503))).isEqualTo(FailureClass.THROTTLED);
        assertThat(S3Failures.isExpiredCredentials(withoutCode(503))).isFalse();
        assertThat(S3Failures.wrap("PutObject", "b", "k", withoutCode(503)))
                .hasMessageContaining("s3://b/k");
    }

    @Test
    void requestsAnswered503WithoutCodeEveryTimeFailThrottledNotWithANullPointer() {
        S3RequestRetries retries =
                new S3RequestRetries(3, System::nanoTime, nanos -> {}, new StoreRequestCounters());
        assertThatThrownBy(
                        () ->
                                retries.send(
                                        "PutObject",
                                        "b",
                                        "k",
                                        S3RequestRetries.Payload.OBJECT_BYTES,
                                        override -> {
                                            throw withoutCode(503);
                                        }))
                .isInstanceOf(IOException.class)
                .satisfies(
                        e -> assertThat(S3Failures.classify(e)).isEqualTo(FailureClass.THROTTLED));
    }
}
