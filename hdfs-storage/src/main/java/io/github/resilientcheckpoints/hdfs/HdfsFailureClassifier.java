package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.store.FailureClass;
import io.github.resilientcheckpoints.store.GenericFailureClassifier;
import java.util.HashSet;
import java.util.Set;
import org.apache.hadoop.ipc.RemoteException;

/**
 * HDFS failures by type: the NameNode's exceptions arrive wrapped in {@link RemoteException}, which
 * carries the server-side class name; local ones are thrown as themselves.
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

    static FailureClass classify(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
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
        return GenericFailureClassifier.classify(failure);
    }

    /** The class names a failure stands for: its own hierarchy, or the server's class. */
    private static Set<String> names(Throwable t) {
        if (t instanceof RemoteException) {
            return Set.of(((RemoteException) t).getClassName());
        }
        Set<String> names = new HashSet<>();
        for (Class<?> c = t.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            names.add(c.getName());
        }
        return names;
    }
}
