package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStoreContractTest;
import java.net.URI;
import java.util.UUID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.testcontainers.containers.MinIOContainer;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The same store contract against MinIO, where a Docker engine exists; reported as skipped where
 * none does (these build machines have none).
 */
@Testcontainers(disabledWithoutDocker = true)
class MinioStoreContractTest extends CheckpointStoreContractTest {

    static final String BUCKET = "minio-contract";

    @Container
    static final MinIOContainer MINIO =
            new MinIOContainer("minio/minio:RELEASE.2024-12-18T13-15-44Z");

    private static CheckpointStore store;

    @BeforeAll
    static void start() throws Exception {
        URI endpoint = URI.create(MINIO.getS3URL());
        try (S3Client c =
                S3Client.builder()
                        .endpointOverride(endpoint)
                        .region(Region.US_EAST_1)
                        .forcePathStyle(true)
                        .credentialsProvider(
                                StaticCredentialsProvider.create(
                                        AwsBasicCredentials.create(
                                                MINIO.getUserName(), MINIO.getPassword())))
                        .build()) {
            c.createBucket(b -> b.bucket(BUCKET));
        }
        Configuration conf = new Configuration();
        conf.setString("s3.endpoint", endpoint.toString());
        conf.setString("s3.region", "us-east-1");
        conf.setString("s3.access-key", MINIO.getUserName());
        conf.setString("s3.secret-key", MINIO.getPassword());
        conf.setString("s3.path-style-access", "true");
        FlinkS3.initialize(conf);
        store = new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
    }

    @AfterAll
    static void stop() throws Exception {
        if (store != null) {
            store.close();
        }
    }

    @Override
    protected CheckpointStore store() {
        return store;
    }

    @Override
    protected Path root() {
        return new Path("s3://" + BUCKET + "/t-" + UUID.randomUUID());
    }
}
