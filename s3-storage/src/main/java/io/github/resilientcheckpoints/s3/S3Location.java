package io.github.resilientcheckpoints.s3;

import java.net.URI;
import org.apache.flink.core.fs.Path;

/**
 * Where an object is: the scheme it was named with ({@code s3}, {@code s3a} or {@code s3p}), the
 * bucket and the key. Paths the store hands back are built from it, so they keep the scheme the
 * checkpoint directory was configured with, as Flink's own S3 file systems do.
 */
record S3Location(String scheme, String bucket, String key) {

    S3Location {
        if (scheme == null || !S3StoreProvider.SCHEMES.contains(scheme)) {
            throw new IllegalArgumentException(
                    "not an s3://, s3a:// or s3p:// location: scheme '" + scheme + "'");
        }
        if (bucket == null || bucket.isEmpty()) {
            throw new IllegalArgumentException(
                    "no bucket in " + scheme + "://" + bucket + "/" + key);
        }
        key = key == null ? "" : key;
    }

    /**
     * Parses {@code s3://bucket/key} (or s3a, s3p); the key has no leading slash. The bucket is the
     * URI's authority, not its host: {@link URI#getHost()} is null for names with an underscore
     * (legacy buckets), and a bucket is no host name anyway.
     */
    static S3Location of(Path path) {
        URI uri = path.toUri();
        String bucket = uri.getRawAuthority();
        if (uri.getScheme() == null
                || bucket == null
                || bucket.isEmpty()
                || bucket.contains("@")
                || bucket.contains(":")) {
            throw new IllegalArgumentException("not an s3://bucket/key path: " + path);
        }
        String p = uri.getPath() == null ? "" : uri.getPath();
        return new S3Location(uri.getScheme(), bucket, p.startsWith("/") ? p.substring(1) : p);
    }

    /** The same scheme and bucket, another key. */
    S3Location withKey(String otherKey) {
        return new S3Location(scheme, bucket, otherKey);
    }

    /** The key as a listing prefix for the "directory" it names: empty or ending with '/'. */
    String prefix() {
        return key.isEmpty() || key.endsWith("/") ? key : key + "/";
    }

    Path toPath() {
        return new Path(toString());
    }

    @Override
    public String toString() {
        return scheme + "://" + bucket + "/" + key;
    }
}
