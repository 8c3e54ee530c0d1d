package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsPartUploads;
import io.github.resilientcheckpoints.store.SupportsPendingUploads;
import io.github.resilientcheckpoints.testing.ByteSource;
import java.net.URI;
import java.util.List;
import java.util.UUID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A checkpoint directory may be configured as {@code s3://}, {@code s3a://} or {@code s3p://}.
 * Every path the store hands back (written files, listings, pending uploads) keeps that scheme, as
 * Flink's own file systems do: the cleanup compares listings with the references in {@code
 * _metadata} by scheme, authority and path, and a listing in another scheme than the job directory
 * makes it give up on the job.
 */
class S3SchemesTest {

    static final String BUCKET = "schemes";

    private static S3Server server;
    private static S3Store store;

    @BeforeAll
    static void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        Configuration conf = FlinkS3.config(server.endpoint());
        conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
        conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
        store = (S3Store) new S3StoreProvider().create(URI.create("s3a://" + BUCKET + "/"), conf);
    }

    @AfterAll
    static void stop() throws Exception {
        if (store != null) {
            store.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"s3", "s3a", "s3p"})
    void everyPathHandedBackKeepsTheSchemeOfTheDirectory(String scheme) throws Exception {
        Path dir = new Path(scheme + "://" + BUCKET + "/" + UUID.randomUUID());
        Path written = store.upload(new ByteSource(new byte[] {1}), new Path(dir, "small"));
        assertThat(written).isEqualTo(new Path(dir, "small"));

        SupportsPartUploads.PartUpload parts = store.startPartUpload(new Path(dir, "parts"));
        // The upload is created in the background: wait until it exists.
        List<SupportsPendingUploads.PendingUpload> pending = store.listPendingUploads(dir);
        long end = System.nanoTime() + 30_000_000_000L;
        while (pending.isEmpty() && System.nanoTime() < end) {
            Thread.sleep(10);
            pending = store.listPendingUploads(dir);
        }
        assertThat(pending)
                .extracting(SupportsPendingUploads.PendingUpload::path)
                .containsExactly(new Path(dir, "parts"));
        assertThat(parts.complete(1, new ByteSource(new byte[] {2})))
                .isEqualTo(new Path(dir, "parts"));

        assertThat(store.listFiles(dir))
                .extracting(StoredFile::path)
                .containsExactlyInAnyOrder(new Path(dir, "small"), new Path(dir, "parts"));
        assertThat(store.deleteAll(List.of(new Path(dir, "small"), new Path(dir, "parts"))))
                .isEmpty();
        assertThat(store.listFiles(dir)).isEmpty();
    }
}
