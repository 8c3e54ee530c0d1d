package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.store.Causes;
import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.ipc.RemoteException;

/**
 * HDFS failures by type: the NameNode's exceptions arrive wrapped in {@link RemoteException}, which
 * carries the server-side class name; local ones are thrown as themselves.
 *
 * <p>It is handed whatever the Hadoop client, a proxy or user code threw, and never throws or loops
 * whatever that is: the cause chain is walked with {@link Causes#chain} (bounded, cycle-safe),
 * messages are read with {@link Causes#message}; the generic classifier it falls back to does the
 * same.
 *
 * <p>A timeout ({@link SocketTimeoutException}, which Hadoop's {@code ConnectTimeoutException}
 * extends) is the store not answering in time: transient, whatever the messages around it say. Only
 * a real interrupt is a cancellation, and the retry loop checks for it before it asks here.
 */
final class HdfsFailureClassifier {

    private static final Set<String> PERMANENT =
            Set.of(
                    "org.apache.hadoop.security.AccessControlException",
                    "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException",
                    "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException",
                    "org.apache.hadoop.hdfs.protocol.QuotaByStorageTypeExceededException",
                    "org.apache.hadoop.fs.ParentNotDirectoryException",
                    "org.apache.hadoop.fs.PathIsNotDirectoryException",
                    "org.apache.hadoop.fs.InvalidPathException",
                    "org.apache.hadoop.fs.UnsupportedFileSystemException",
                    "org.apache.hadoop.security.token.SecretManager$InvalidToken",
                    // Something exists where only a new file may go (a _metadata never replaced).
                    "org.apache.hadoop.fs.FileAlreadyExistsException",
                    // The generic classifier's permanent types, matched here too so that they win
                    // over a timeout elsewhere in the chain, as they do before the timeout check.
                    "org.apache.flink.core.fs.UnsupportedFileSystemSchemeException",
                    "java.nio.file.AccessDeniedException",
                    "java.nio.file.NotDirectoryException",
                    "java.nio.file.FileAlreadyExistsException",
                    "java.nio.file.ReadOnlyFileSystemException",
                    QuotaHeadroomException.class.getName());

    private static final Set<String> TRANSIENT =
            Set.of(
                    "org.apache.hadoop.ipc.RetriableException",
                    "org.apache.hadoop.ipc.StandbyException",
                    "org.apache.hadoop.hdfs.server.namenode.SafeModeException",
                    "org.apache.hadoop.hdfs.protocol.RecoveryInProgressException",
                    "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException",
                    "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException",
                    "org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException");

    private static final Set<String> THROTTLED =
            Set.of(
                    "org.apache.hadoop.ipc.CallQueueManager$CallQueueOverflowException",
                    "org.apache.hadoop.ipc.ServerTooBusyException");

    private HdfsFailureClassifier() {}

    /** The class of {@code failure}; never throws, never loops. */
    static FailureClass classify(Throwable failure) {
        try {
            return classifyChain(Causes.chain(failure));
        } catch (RuntimeException | LinkageError e) {
            // A wrong "transient" costs a few retries within the deadline.
            return FailureClass.TRANSIENT;
        }
    }

    private static FailureClass classifyChain(List<Throwable> chain) {
        if (chain.isEmpty()) {
            return FailureClass.TRANSIENT;
        }
        for (Throwable t : chain) {
            for (String name : names(t)) {
                if (THROTTLED.contains(name)) {
                    return FailureClass.THROTTLED;
                }
                if (PERMANENT.contains(name)) {
                    return FailureClass.PERMANENT;
                }
                if (TRANSIENT.contains(name)) {
                    return FailureClass.TRANSIENT;
                }
            }
        }
        for (Throwable t : chain) {
            if (isTimeout(t)) {
                // Not an interrupt, and no message (a path, an address) makes it permanent.
                return FailureClass.TRANSIENT;
            }
        }
        return GenericFailureClassifier.classify(chain.get(0));
    }

    /**
     * Whether {@code t} is a timeout of the store (NameNode RPC, DataNode read or connect): a
     * {@link SocketTimeoutException}, which is an {@link InterruptedIOException} but no interrupt.
     */
    static boolean isTimeout(Throwable t) {
        return t instanceof SocketTimeoutException;
    }

    /** Whether {@code t} or one of its causes is a timeout of the store. */
    static boolean hasTimeout(Throwable failure) {
        for (Throwable t : Causes.chain(failure)) {
            if (isTimeout(t)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The class names a failure stands for: the server's class for a {@link RemoteException} that
     * names one, else its own hierarchy.
     */
    private static Set<String> names(Throwable t) {
        if (t instanceof RemoteException) {
            String server = ((RemoteException) t).getClassName();
            if (server != null && !server.isEmpty()) {
                return Set.of(server);
            }
        }
        Set<String> names = new HashSet<>();
        for (Class<?> c = t.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            names.add(c.getName());
        }
        return names;
    }
}
