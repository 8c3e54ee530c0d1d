package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.SupportsExclusiveCreate;
import io.github.resilientcheckpoints.store.UploadSource;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.util.UUID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * {@code _metadata} never replaces an existing object: the S3 store writes it with {@code
 * If-None-Match: *}, exactly at the target (no entropy), in one PutObject or, from the multipart
 * threshold on, a multipart upload whose completion carries the condition.
 */
class S3ExclusiveCreateTest {

    static final String BUCKET = "exclusive";
    static final long MB = 1 << 20;

    private ProxiedS3 s3;
    private S3Store store;
    private S3Client direct;

    @BeforeEach
    void start() throws Exception {
        s3 = new ProxiedS3(BUCKET);
        Configuration conf = FlinkS3.config(s3.proxy.endpoint());
        store =
                new S3Store(
                        S3StoreProvider.client(conf),
                        // 5 MiB threshold and parts; entropy configured, as in production setups.
                        new S3Store.Settings(5 * MB, 5 * MB, 2, 3, "_entropy_", 4),
                        S3StoreProvider.partThreads(2),
                        System::nanoTime,
                        nanos -> {});
        direct = s3.server.client();
    }

    @AfterEach
    void stop() throws Exception {
        direct.close();
        store.close();
        s3.close();
    }

    private SupportsExclusiveCreate exclusive() {
        return store.capability(SupportsExclusiveCreate.class)
                .orElseThrow(
                        () -> new AssertionError("S3Store does not offer SupportsExclusiveCreate"));
    }

    private static UploadSource bytes(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return new UploadSource() {
            @Override
            public long length() {
                return b.length;
            }

            @Override
            public InputStream open() {
                return new ByteArrayInputStream(b);
            }
        };
    }

    private String read(String key) throws Exception {
        try (InputStream in = direct.getObject(b -> b.bucket(BUCKET).key(key))) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void writesWhereNothingIsAndExactlyAtTheTargetWithoutEntropy() throws Exception {
        String key = "_entropy_/" + UUID.randomUUID() + "/chk-1/_metadata";
        exclusive().createExclusive(bytes("metadata v1"), new Path("s3://" + BUCKET + "/" + key));
        assertThat(read(key)).isEqualTo("metadata v1");
    }

    @Test
    void refusesToReplaceAnExistingObjectAndLeavesItsBytes() throws Exception {
        String key = UUID.randomUUID() + "/chk-1/_metadata";
        direct.putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromString("older run"));
        assertThatThrownBy(
                        () ->
                                exclusive()
                                        .createExclusive(
                                                bytes("this run"),
                                                new Path("s3://" + BUCKET + "/" + key)))
                .isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining("s3://" + BUCKET + "/" + key)
                .satisfies(e -> assertThat(store.classify(e)).isEqualTo(FailureClass.PERMANENT));
        assertThat(read(key)).isEqualTo("older run");
    }

    @Test
    void aSecondExclusiveCreateOfTheSameKeyIsRefused() throws Exception {
        String key = UUID.randomUUID() + "/chk-2/_metadata";
        Path target = new Path("s3://" + BUCKET + "/" + key);
        exclusive().createExclusive(bytes("first"), target);
        assertThatThrownBy(() -> exclusive().createExclusive(bytes("second"), target))
                .isInstanceOf(FileAlreadyExistsException.class);
        assertThat(read(key)).isEqualTo("first");
    }

    @Test
    void largeMetadataGoesMultipartWithTheConditionOnItsCompletion() throws Exception {
        String key = UUID.randomUUID() + "/chk-3/_metadata";
        Path target = new Path("s3://" + BUCKET + "/" + key);
        SyntheticSource large = new SyntheticSource(11 * MB + 17);
        exclusive().createExclusive(large, target);
        try (InputStream in = direct.getObject(b -> b.bucket(BUCKET).key(key))) {
            assertThat(large.matches(in)).isTrue();
        }
        assertThatThrownBy(() -> exclusive().createExclusive(new SyntheticSource(6 * MB), target))
                .isInstanceOf(FileAlreadyExistsException.class);
        try (InputStream in = direct.getObject(b -> b.bucket(BUCKET).key(key))) {
            assertThat(large.matches(in)).as("the first object is untouched").isTrue();
        }
        assertThat(store.listPendingUploads(new Path("s3://" + BUCKET + "/"))).isEmpty();
    }

    @Test
    void aLostAnswerToTheWriteIsNotTakenForSomeoneElsesObject() throws Exception {
        // The server stores the object, the client never hears so and resends: S3 answers 412.
        String key = UUID.randomUUID() + "/chk-4/_metadata";
        s3.proxy.dropResponseIf = line -> line.startsWith("PUT ") && line.contains(key);
        s3.proxy.responsesToDrop.set(1);
        exclusive().createExclusive(bytes("mine"), new Path("s3://" + BUCKET + "/" + key));
        assertThat(s3.proxy.droppedResponses.get()).isEqualTo(1);
        assertThat(read(key)).isEqualTo("mine");
    }
}
