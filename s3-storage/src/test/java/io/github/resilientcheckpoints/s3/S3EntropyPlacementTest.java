package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.testing.ByteSource;
import java.net.URI;
import java.util.UUID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * With {@code s3.entropy.key} the store decides the randomised key before anything is written
 * ({@code resolveTarget}) and then writes exactly there: the uploader knows what to delete when it
 * abandons an attempt that never returns.
 */
class S3EntropyPlacementTest {

    static final String BUCKET = "entropy";

    private static S3Server server;
    private static S3Store store;
    private static S3Client sdk;

    @BeforeAll
    static void start() throws Exception {
        server = new S3Server();
        server.createBucket(BUCKET);
        Configuration conf = FlinkS3.config(server.endpoint());
        conf.setString("s3.entropy.key", "_entropy_");
        conf.setString("s3.entropy.length", "6");
        store = (S3Store) new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
        sdk = server.client();
    }

    @AfterAll
    static void stop() throws Exception {
        if (sdk != null) {
            sdk.close();
        }
        if (store != null) {
            store.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void uploadWritesWhereTheTargetWasResolvedTo() throws Exception {
        Path target = new Path("s3://" + BUCKET + "/_entropy_/job/chk-1/" + UUID.randomUUID());
        Path resolved = store.resolveTarget(target);
        assertThat(resolved.toString())
                .doesNotContain("_entropy_")
                .matches("s3://" + BUCKET + "/[a-z0-9]{6}/job/chk-1/.*");
        assertThat(store.resolveTarget(target))
                .as("fresh entropy per attempt")
                .isNotEqualTo(resolved);

        Path written = store.upload(new ByteSource(new byte[] {4, 5, 6}), resolved);

        assertThat(written).isEqualTo(resolved);
        store.delete(resolved);
        assertThat(sdk.listObjectsV2(b -> b.bucket(BUCKET)).keyCount())
                .as("nothing left after the delete")
                .isZero();
    }

    @Test
    void pathsWithoutTheMarkerStayAsTheyAre() throws Exception {
        Path target = new Path("s3://" + BUCKET + "/job/chk-1/" + UUID.randomUUID());
        assertThat(store.resolveTarget(target)).isEqualTo(target);
    }
}
