package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import java.time.Duration;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;

/**
 * Keys of the S3 adapter. Connection keys are Flink's own S3 keys (shared with Flink's S3 file
 * systems, so one configuration serves writing through us and restoring through Flink); tuning keys
 * live under the storage's namespace.
 *
 * <p>Flink's S3 file systems accept both spellings of the connection keys ({@code s3.access-key}
 * and {@code s3.access.key}, {@code s3.secret-key} and {@code s3.secret.key}, {@code
 * s3.path-style-access} and {@code s3.path.style.access}); so does this adapter, with the
 * hyphenated spelling winning when both are set. The other spelling is a fallback key, not a
 * deprecated one: Flink itself does not deprecate it.
 */
public final class S3StoreOptions {

    public static final ConfigOption<String> ENDPOINT =
            ConfigOptions.key("s3.endpoint")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "S3 endpoint URL (Flink's key); unset uses AWS for the region.");

    public static final ConfigOption<String> REGION =
            ConfigOptions.key("s3.region")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("S3 region (Flink's key); unset uses the SDK's region chain.");

    public static final ConfigOption<String> ACCESS_KEY =
            ConfigOptions.key("s3.access-key")
                    .stringType()
                    .noDefaultValue()
                    .withFallbackKeys("s3.access.key")
                    .withDescription(
                            "Access key (Flink's key); unset uses the default credential chain.");

    public static final ConfigOption<String> SECRET_KEY =
            ConfigOptions.key("s3.secret-key")
                    .stringType()
                    .noDefaultValue()
                    .withFallbackKeys("s3.secret.key")
                    .withDescription("Secret key (Flink's key); never logged.");

    public static final ConfigOption<Boolean> PATH_STYLE_ACCESS =
            ConfigOptions.key("s3.path-style-access")
                    .booleanType()
                    .defaultValue(false)
                    .withFallbackKeys("s3.path.style.access")
                    .withDescription("Path-style requests (Flink's key), e.g. for MinIO.");

    public static final ConfigOption<String> ENTROPY_KEY =
            ConfigOptions.key("s3.entropy.key")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Flink's entropy marker: replaced by random characters in data file keys.");

    public static final ConfigOption<Integer> ENTROPY_LENGTH =
            ConfigOptions.key("s3.entropy.length")
                    .intType()
                    .defaultValue(4)
                    .withDescription("Flink's entropy length: characters that replace the marker.");

    public static final ConfigOption<MemorySize> MULTIPART_THRESHOLD =
            ConfigOptions.key(ResilientCheckpointOptions.PREFIX + "s3.multipart-threshold")
                    .memoryType()
                    .defaultValue(MemorySize.ofMebiBytes(16))
                    .withDescription(
                            "State files at least this large are uploaded as multipart uploads"
                                    + " (their parts start while the state is still being written); smaller ones"
                                    + " with one PutObject.");

    public static final ConfigOption<MemorySize> PART_SIZE =
            ConfigOptions.key(ResilientCheckpointOptions.PREFIX + "s3.part-size")
                    .memoryType()
                    .defaultValue(MemorySize.ofMebiBytes(8))
                    .withDescription(
                            "Size of multipart parts, 5 mb to 5 gb (S3's limits). Parts grow with the"
                                    + " file so that S3's 10000 parts hold up to 5 TiB: the first 909 parts have this size,"
                                    + " the next 909 twice it, and so on, doubling (never above 5 gb).");

    public static final ConfigOption<Integer> PARALLEL_PARTS =
            ConfigOptions.key(ResilientCheckpointOptions.PREFIX + "s3.parallel-parts")
                    .intType()
                    .defaultValue(16)
                    .withDescription(
                            "Parts of one file uploaded at the same time (each on its own"
                                    + " connection). 16: one connection to S3 carries roughly 10-40 MB/s, so fewer parts"
                                    + " leave a large file bound by per-connection bandwidth (see jmh/README.md, S3"
                                    + " benchmark); the shared part threads (4 x this) serve at most this many parts of"
                                    + " one file at a time.");

    public static final ConfigOption<Integer> PART_ATTEMPTS =
            ConfigOptions.key(ResilientCheckpointOptions.PREFIX + "s3.part-attempts")
                    .intType()
                    .defaultValue(4)
                    .withDescription(
                            "Attempts per S3 request (each part, PutObject, the multipart"
                                    + " create/complete, each DeleteObjects batch) inside one upload attempt: a failed part"
                                    + " is resent alone. The SDK's own retries are off; these and the storage's retries are"
                                    + " the only ones, bounded by 'retry.attempt-timeout'.");

    public static final ConfigOption<Duration> REQUEST_TIMEOUT =
            ConfigOptions.key(ResilientCheckpointOptions.PREFIX + "s3.request-timeout")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(2))
                    .withDescription(
                            "Longest time one S3 request (one part, one PutObject) may take.");

    private S3StoreOptions() {}
}
