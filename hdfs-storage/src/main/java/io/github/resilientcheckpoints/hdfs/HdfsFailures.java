package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.store.Causes;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.List;
import org.apache.flink.core.fs.Path;

/** What the HDFS store's callers are given when an operation fails, and how it is described. */
final class HdfsFailures {

    private HdfsFailures() {}

    /**
     * What the caller of an operation on {@code path} is given for {@code e}: a real interrupt
     * stays an {@link InterruptedIOException}; a failure that already names its path ({@link
     * java.nio.file.FileSystemException}, the quota check's) stays as it is; anything else (a
     * timeout included, which is no interrupt) becomes an {@link IOException} naming the operation
     * and the path, {@code e} as its cause. A {@link FileNotFoundException} stays one.
     */
    static IOException failure(String what, Path path, IOException e) {
        boolean timeout = HdfsFailureClassifier.hasTimeout(e);
        if (Thread.currentThread().isInterrupted() || (!timeout && Causes.isInterrupt(e))) {
            if (e instanceof InterruptedIOException && !timeout) {
                return e;
            }
            InterruptedIOException interrupted =
                    new InterruptedIOException(
                            "interrupted: could not " + what + " '" + path + "': " + describe(e));
            interrupted.initCause(e);
            return interrupted;
        }
        if (e instanceof java.nio.file.FileSystemException || e instanceof QuotaHeadroomException) {
            return e;
        }
        String message = "Could not " + what + " '" + path + "' on HDFS: " + describe(e);
        if (e instanceof FileNotFoundException) {
            FileNotFoundException notFound = new FileNotFoundException(message);
            notFound.initCause(e);
            return notFound;
        }
        return new IOException(message, e);
    }

    /** Something exists at {@code target}: permanent, it is never replaced. */
    static java.nio.file.FileAlreadyExistsException alreadyExists(Path target, IOException cause) {
        java.nio.file.FileAlreadyExistsException e =
                new java.nio.file.FileAlreadyExistsException(
                        target.toString(),
                        null,
                        "something already exists there on HDFS and is never replaced");
        e.initCause(cause);
        return e;
    }

    /**
     * {@code failure} and up to two causes as {@code Type: message <- Type: message}, for messages
     * and logs; never throws, whatever the exception does.
     */
    static String describe(Throwable failure) {
        List<Throwable> chain = Causes.chain(failure);
        if (chain.isEmpty()) {
            return "(no exception)";
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < chain.size() && i < 3; i++) {
            Throwable t = chain.get(i);
            if (i > 0) {
                sb.append(" <- ");
            }
            String type = t.getClass().getSimpleName();
            sb.append(type.isEmpty() ? t.getClass().getName() : type);
            String message = Causes.message(t);
            if (!message.isEmpty()) {
                sb.append(": ").append(message);
            }
        }
        return sb.toString();
    }
}
