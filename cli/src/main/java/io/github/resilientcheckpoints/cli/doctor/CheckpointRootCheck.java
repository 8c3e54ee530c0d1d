package io.github.resilientcheckpoints.cli.doctor;

import io.github.resilientcheckpoints.s3.S3StoreOptions;
import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.CheckpointStores;
import io.github.resilientcheckpoints.store.UploadSource;
import io.github.resilientcheckpoints.upload.Redactor;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;

/**
 * {@code checkpoint-root}: writes a probe object through the same store a TaskManager uses ({@link
 * CheckpointStores}, with the configured credentials), reads it back through Flink's FileSystem (as
 * a restore reads) and deletes it.
 */
final class CheckpointRootCheck implements PreflightCheck {

    private final Configuration conf;
    private final Redactor redactor;

    CheckpointRootCheck(Configuration conf, Redactor redactor) {
        this.conf = conf;
        this.redactor = redactor;
    }

    /** Writes, reads back and deletes a probe object under the checkpoint root. */
    @Override
    public List<Finding> run() {
        return List.of(probe());
    }

    private Finding probe() {
        String dir = conf.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY);
        if (dir == null) {
            return Finding.warn(
                    "checkpoint-root",
                    "not probed: no checkpoint directory",
                    "set " + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key());
        }
        org.apache.flink.core.fs.Path root = new org.apache.flink.core.fs.Path(dir);
        URI uri = root.toUri();
        org.apache.flink.core.fs.Path target =
                new org.apache.flink.core.fs.Path(root, ".rcs-doctor-probe-" + UUID.randomUUID());
        byte[] bytes =
                ("Resilient Checkpoint Storage doctor probe " + target.getName())
                        .getBytes(StandardCharsets.UTF_8);
        String step = "choose a store for";
        long start = System.nanoTime();
        try (CheckpointStore store = CheckpointStores.forRoot(uri, conf)) {
            step = "write";
            org.apache.flink.core.fs.Path written =
                    store.upload(new BytesSource(bytes), store.resolveTarget(target));
            step = "read back";
            FileSystem fs = written.getFileSystem();
            byte[] read;
            try (FSDataInputStream in = fs.open(written)) {
                read = in.readAllBytes();
            }
            if (!Arrays.equals(read, bytes)) {
                store.delete(written);
                return Finding.fail(
                        "checkpoint-root",
                        "read back "
                                + read.length
                                + " bytes from "
                                + redactor.redact(written.toString())
                                + ", not the "
                                + bytes.length
                                + " written",
                        fixFor(uri));
            }
            step = "delete";
            store.delete(written);
            long ms = (System.nanoTime() - start) / 1_000_000;
            return Finding.ok(
                    "checkpoint-root",
                    "wrote, read back and deleted a probe under "
                            + redactor.redact(dir)
                            + " through store '"
                            + store.name()
                            + "' in "
                            + ms
                            + " ms");
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return Finding.fail(
                    "checkpoint-root",
                    "cannot "
                            + step
                            + " "
                            + redactor.redact(target.toString())
                            + ": "
                            + redactor.describe(e),
                    fixFor(uri));
        } catch (LinkageError e) {
            // an adapter whose client library is not on the classpath (the HDFS one needs Hadoop)
            return Finding.fail(
                    "checkpoint-root",
                    "cannot "
                            + step
                            + " "
                            + redactor.redact(target.toString())
                            + ": a class the store needs is missing: "
                            + e,
                    "put the store's client on the classpath (for hdfs://: java -cp \"<this jar>:$(hadoop classpath)\""
                            + " io.github.resilientcheckpoints.cli.Main doctor check ...)");
        }
    }

    private static String fixFor(URI root) {
        String given =
                root.getScheme() == null ? "file" : root.getScheme().toLowerCase(Locale.ROOT);
        // The canonical spelling, as the store provider serving the scheme lists it (s3a -> s3).
        List<String> spellings = CheckpointStores.spellingsOf(given);
        String scheme = spellings.isEmpty() ? given : spellings.get(0);
        return switch (scheme) {
            case "s3" ->
                    "create the bucket, and let the configured credentials ("
                            + S3StoreOptions.ACCESS_KEY.key()
                            + " or the instance role) PutObject, GetObject and DeleteObject under it;"
                            + " check "
                            + S3StoreOptions.ENDPOINT.key()
                            + " and "
                            + S3StoreOptions.REGION.key();
            case "hdfs" ->
                    "create the directory (hdfs dfs -mkdir -p) writable by the Flink user; check"
                            + " fs.defaultFS and that Hadoop is on the classpath";
            case "file" ->
                    "create the directory, writable by the Flink user, on a file system every"
                            + " JobManager and TaskManager host shares";
            default ->
                    "make '"
                            + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                            + "' a location the configured"
                            + " file system for '"
                            + scheme
                            + "' can write (its plugin in plugins/, its credentials set)";
        };
    }

    /** The probe's bytes. */
    private record BytesSource(byte[] bytes) implements UploadSource {
        @Override
        public long length() {
            return bytes.length;
        }

        @Override
        public InputStream open() {
            return new ByteArrayInputStream(bytes);
        }
    }
}
