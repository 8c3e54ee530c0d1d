package io.github.resilientcheckpoints.store;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NotDirectoryException;
import java.nio.file.ReadOnlyFileSystemException;
import java.util.Locale;
import org.apache.flink.configuration.CheckpointingOptions;

/**
 * Classifies failures of stores that only surface exceptions and messages (Flink's {@code
 * FileSystem} over local disk, HDFS or an S3 plugin). Adapters with typed errors classify those
 * first and fall back to this. It walks the cause chain and matches exception types by class name,
 * so {@code core} needs no AWS or Hadoop type on its classpath.
 *
 * <p>Anything not recognised as throttling or as permanent is transient: a wrong "transient" costs
 * a few retries within the deadline, a wrong "permanent" fails a checkpoint that could have
 * succeeded.
 */
public final class GenericFailureClassifier {

    private static final String CHECKPOINT_DIR = CheckpointingOptions.CHECKPOINTS_DIRECTORY.key();

    private static final String[] THROTTLE_MARKERS = {
        "slowdown",
        "slow down",
        "too many requests",
        "throttl",
        "request rate",
        "requestlimitexceeded",
        "server too busy",
        "servertoobusy",
        "status code: 503",
        "status code: 429",
        "(503)",
        "(429)",
        "reduce your request rate"
    };

    private static final String[] PERMANENT_CLASS_NAMES = {
        "org.apache.hadoop.security.AccessControlException",
        "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException",
        "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException",
        "org.apache.hadoop.fs.ParentNotDirectoryException",
        "org.apache.flink.core.fs.UnsupportedFileSystemSchemeException",
        "java.nio.file.AccessDeniedException",
        "java.nio.file.NotDirectoryException",
        // Flink's LocalFileSystem throws it when a regular file blocks a directory to be created;
        // our targets are fresh random names, so it never means "retry under another name".
        "java.nio.file.FileAlreadyExistsException",
        "java.nio.file.ReadOnlyFileSystemException",
    };

    private static final String[] PERMANENT_MARKERS = {
        "permission denied",
        "access denied",
        "accessdenied",
        "forbidden",
        "status code: 403",
        "invalidaccesskeyid",
        "signaturedoesnotmatch",
        "expiredtoken",
        "invalidtoken",
        "nosuchbucket",
        "bucket does not exist",
        "not a directory",
        "read-only file system",
        "quota exceeded",
        "quotaexceeded",
        "unsupported file system scheme",
        "could not find a file system implementation"
    };

    private GenericFailureClassifier() {}

    public static FailureClass classify(Throwable failure) {
        if (failure == null) {
            return FailureClass.TRANSIENT;
        }
        // An interrupt is cancellation, not a store verdict; the retry loop checks it first.
        boolean sawPermanent = false;
        for (Throwable t : Causes.chain(failure)) {
            String text = describe(t);
            if (containsAny(text, THROTTLE_MARKERS)) {
                return FailureClass.THROTTLED;
            }
            if (isPermanentType(t) || containsAny(text, PERMANENT_MARKERS)) {
                sawPermanent = true;
            }
        }
        if (sawPermanent) {
            return FailureClass.PERMANENT;
        }
        if (failure instanceof InterruptedIOException) {
            return FailureClass.TRANSIENT;
        }
        if (failure instanceof RuntimeException
                && !(Causes.chain(failure).stream().skip(1).findFirst().orElse(null)
                        instanceof IOException)) {
            // A bug or an invalid argument (e.g. a malformed path) will fail the same way again.
            return FailureClass.PERMANENT;
        }
        return FailureClass.TRANSIENT;
    }

    /**
     * The most likely fix for a permanent failure, phrased for an operator, or a generic hint. Used
     * to build the message that fails the checkpoint.
     */
    public static String likelyFix(Throwable failure) {
        for (Throwable t : Causes.chain(failure)) {
            String text = describe(t);
            if (t instanceof AccessDeniedException
                    || containsAny(
                            text,
                            "permission denied",
                            "access denied",
                            "accessdenied",
                            "forbidden",
                            "status code: 403",
                            "accesscontrolexception")) {
                return "grant the TaskManager's user (or the configured credentials) write access"
                        + " to the checkpoint directory";
            }
            if (containsAny(
                    text,
                    "invalidaccesskeyid",
                    "signaturedoesnotmatch",
                    "expiredtoken",
                    "invalidtoken")) {
                return "check the store credentials (access key, secret, token): the store rejected them";
            }
            if (containsAny(text, "nosuchbucket", "bucket does not exist")) {
                return "create the bucket or correct the bucket in '" + CHECKPOINT_DIR + "'";
            }
            if (t instanceof NotDirectoryException
                    || t instanceof FileNotFoundException
                    || t instanceof FileAlreadyExistsException
                    || containsAny(text, "not a directory", "parentnotdirectory")) {
                return "a file stands where a checkpoint directory must be created; correct"
                        + " '"
                        + CHECKPOINT_DIR
                        + "' or remove that file";
            }
            if (t instanceof ReadOnlyFileSystemException
                    || containsAny(text, "read-only file system")) {
                return "the checkpoint directory is on a read-only file system; point"
                        + " '"
                        + CHECKPOINT_DIR
                        + "' at a writable one";
            }
            if (containsAny(text, "quota")) {
                return "the directory quota of the checkpoint directory is exhausted; raise the quota"
                        + " or free space (old checkpoints)";
            }
            if (containsAny(
                    text,
                    "unsupported file system scheme",
                    "could not find a file system implementation")) {
                return "install the Flink file system plugin for this scheme in plugins/ or correct"
                        + " the scheme in '"
                        + CHECKPOINT_DIR
                        + "'";
            }
        }
        return "check '" + CHECKPOINT_DIR + "' and the store's answer above";
    }

    private static boolean isPermanentType(Throwable t) {
        for (Class<?> c = t.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (String name : PERMANENT_CLASS_NAMES) {
                if (name.equals(c.getName())) {
                    return true;
                }
            }
        }
        return false;
    }

    private static String describe(Throwable t) {
        return (t.getClass().getName() + ": " + Causes.message(t)).toLowerCase(Locale.ROOT);
    }

    private static boolean containsAny(String text, String... markers) {
        for (String marker : markers) {
            if (text.contains(marker)) {
                return true;
            }
        }
        return false;
    }
}
