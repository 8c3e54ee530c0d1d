package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.cleanup.Locations;
import io.github.resilientcheckpoints.store.CheckpointStores;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;

class S3LocationTest {

    @Test
    void parsesSchemeBucketAndKey() {
        S3Location l = S3Location.of(new Path("s3a://my-bucket/flink/job/chk-1/f"));
        assertThat(l.scheme()).isEqualTo("s3a");
        assertThat(l.bucket()).isEqualTo("my-bucket");
        assertThat(l.key()).isEqualTo("flink/job/chk-1/f");
        assertThat(l.toPath()).isEqualTo(new Path("s3a://my-bucket/flink/job/chk-1/f"));
        assertThat(l.withKey("other").toString()).isEqualTo("s3a://my-bucket/other");
    }

    @Test
    void prefixesNameDirectories() {
        assertThat(S3Location.of(new Path("s3p://b/dir")).prefix()).isEqualTo("dir/");
        assertThat(S3Location.of(new Path("s3://b/dir/")).prefix()).isEqualTo("dir/");
        assertThat(S3Location.of(new Path("s3://b/")).prefix()).isEmpty();
        assertThat(S3Location.of(new Path("s3://b")).key()).isEmpty();
    }

    @Test
    void coreFoldsTheSpellingsTheProviderLists() {
        for (String scheme : S3StoreProvider.SCHEMES) {
            assertThat(CheckpointStores.spellingsOf(scheme)).isEqualTo(S3StoreProvider.SCHEMES);
            assertThat(Locations.key(new Path(scheme + "://b/dir/f"))).isEqualTo("s3://b/dir/f");
        }
        assertThat(new S3StoreProvider().supportsScheme("s3p")).isTrue();
        assertThat(new S3StoreProvider().supportsScheme("s3n")).isFalse();
    }

    @Test
    void refusesWhatIsNotAnS3Location() {
        assertThatThrownBy(() -> S3Location.of(new Path("hdfs://nn/dir")))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> S3Location.of(new Path("/local/dir")))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> S3Location.of(new Path("s3:///no-bucket")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void bucketsWithDotsAndUnderscoresAreParsed() {
        // java.net.URI finds no host in an authority with '_': the bucket comes from the authority.
        S3Location underscore = S3Location.of(new Path("s3://my_bucket/flink/chk-1/f"));
        assertThat(underscore.bucket()).isEqualTo("my_bucket");
        assertThat(underscore.key()).isEqualTo("flink/chk-1/f");
        assertThat(underscore.toPath()).isEqualTo(new Path("s3://my_bucket/flink/chk-1/f"));
        S3Location dotted = S3Location.of(new Path("s3a://my.bucket.example/k"));
        assertThat(dotted.bucket()).isEqualTo("my.bucket.example");
        assertThat(dotted.key()).isEqualTo("k");
        assertThat(S3Location.of(new Path("s3://legacy_Bucket.v1")).bucket())
                .isEqualTo("legacy_Bucket.v1");
    }
}
