package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsPendingUploads.PendingUpload;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.core.fs.Path;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.ListMultipartUploadsResponse;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The listings cleanup sweeps read: objects under a directory (ListObjectsV2, paginated) and the
 * multipart uploads pending under it (ListMultipartUploads, paginated by key and upload id). Paths
 * come back in the scheme of the directory asked for. Not resent here: a failure is wrapped (naming
 * the bucket and prefix) for the caller, the sweep, to handle.
 */
final class S3Listings {

    private final S3Client client;

    S3Listings(S3Client client) {
        this.client = client;
    }

    /** Every object under the directory (as a prefix), with size and modification time. */
    List<StoredFile> listFiles(Path directory) throws IOException {
        S3Location dir = S3Location.of(directory);
        String bucket = dir.bucket();
        String prefix = dir.prefix();
        List<StoredFile> files = new ArrayList<>();
        try {
            for (S3Object o :
                    client.listObjectsV2Paginator(b -> b.bucket(bucket).prefix(prefix))
                            .contents()) {
                files.add(
                        new StoredFile(
                                dir.withKey(o.key()).toPath(),
                                o.size(),
                                o.lastModified().toEpochMilli()));
            }
        } catch (RuntimeException e) {
            throw S3Failures.wrap("ListObjectsV2", bucket, prefix, e);
        }
        return files;
    }

    /** Every multipart upload started and not completed or aborted under the directory. */
    List<PendingUpload> listPendingUploads(Path directory) throws IOException {
        S3Location dir = S3Location.of(directory);
        String bucket = dir.bucket();
        String prefix = dir.prefix();
        List<PendingUpload> uploads = new ArrayList<>();
        try {
            String keyMarker = null;
            String idMarker = null;
            while (true) {
                String km = keyMarker;
                String im = idMarker;
                ListMultipartUploadsResponse r =
                        client.listMultipartUploads(
                                b ->
                                        b.bucket(bucket)
                                                .prefix(prefix)
                                                .keyMarker(km)
                                                .uploadIdMarker(im));
                for (MultipartUpload u : r.uploads()) {
                    uploads.add(
                            new PendingUpload(
                                    dir.withKey(u.key()).toPath(),
                                    u.uploadId(),
                                    u.initiated().toEpochMilli()));
                }
                if (!Boolean.TRUE.equals(r.isTruncated())) {
                    return uploads;
                }
                keyMarker = r.nextKeyMarker();
                idMarker = r.nextUploadIdMarker();
            }
        } catch (RuntimeException e) {
            throw S3Failures.wrap("ListMultipartUploads", bucket, prefix, e);
        }
    }
}
