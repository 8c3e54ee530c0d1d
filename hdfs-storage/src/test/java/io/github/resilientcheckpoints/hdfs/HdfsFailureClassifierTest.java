package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.store.FailureClass;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import org.apache.hadoop.ipc.RemoteException;
import org.apache.hadoop.ipc.RetriableException;
import org.apache.hadoop.net.ConnectTimeoutException;
import org.apache.hadoop.security.AccessControlException;
import org.junit.jupiter.api.Test;

class HdfsFailureClassifierTest {

    private static RemoteException remote(String className, String message) {
        return new RemoteException(className, message);
    }

    @Test
    void nameNodeTroubleIsTransient() {
        assertThat(
                        HdfsFailureClassifier.classify(
                                remote(
                                        "org.apache.hadoop.hdfs.server.namenode.SafeModeException",
                                        "Cannot create file. Name node is in safe mode.")))
                .isEqualTo(FailureClass.TRANSIENT);
        assertThat(
                        HdfsFailureClassifier.classify(
                                remote(
                                        "org.apache.hadoop.ipc.StandbyException",
                                        "Operation category WRITE is not supported in state standby")))
                .isEqualTo(FailureClass.TRANSIENT);
        assertThat(HdfsFailureClassifier.classify(new RetriableException("try again")))
                .isEqualTo(FailureClass.TRANSIENT);
        assertThat(HdfsFailureClassifier.classify(new ConnectException("Connection refused")))
                .isEqualTo(FailureClass.TRANSIENT);
        assertThat(
                        HdfsFailureClassifier.classify(
                                new IOException(
                                        "All datanodes [DatanodeInfoWithStorage[127.0.0.1:1]] are bad. Aborting...")))
                .isEqualTo(FailureClass.TRANSIENT);
    }

    @Test
    void overloadedRpcQueuesAreThrottling() {
        assertThat(
                        HdfsFailureClassifier.classify(
                                remote(
                                        "org.apache.hadoop.ipc.CallQueueManager$CallQueueOverflowException",
                                        "Server too busy")))
                .isEqualTo(FailureClass.THROTTLED);
    }

    @Test
    void permissionsAndQuotasArePermanent() {
        assertThat(
                        HdfsFailureClassifier.classify(
                                new AccessControlException("Permission denied: user=flink")))
                .isEqualTo(FailureClass.PERMANENT);
        assertThat(
                        HdfsFailureClassifier.classify(
                                remote(
                                        "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException",
                                        "The DiskSpace quota of /ckpt is exceeded")))
                .isEqualTo(FailureClass.PERMANENT);
        assertThat(
                        HdfsFailureClassifier.classify(
                                remote(
                                        "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException",
                                        "The NameSpace quota of /ckpt is exceeded")))
                .isEqualTo(FailureClass.PERMANENT);
        assertThat(
                        HdfsFailureClassifier.classify(
                                new IOException(
                                        "upload failed", new QuotaHeadroomException("cannot fit"))))
                .isEqualTo(FailureClass.PERMANENT);
    }

    @Test
    void timeoutsAreTransientEvenWithAPermanentSoundingMessage() {
        // Hadoop's RPC client wraps the timeout in a new one of the same type, with the addresses.
        SocketTimeoutException rpc =
                (SocketTimeoutException)
                        new SocketTimeoutException(
                                        "Call From host/127.0.0.1 to 127.0.0.1:8020 failed on socket"
                                                + " timeout exception: java.net.SocketTimeoutException:"
                                                + " 1000 millis timeout while waiting for channel to be"
                                                + " ready for read")
                                .initCause(new SocketTimeoutException("1000 millis timeout"));
        assertThat(HdfsFailureClassifier.classify(rpc)).isEqualTo(FailureClass.TRANSIENT);
        assertThat(
                        HdfsFailureClassifier.classify(
                                new ConnectTimeoutException(
                                        "1000 millis timeout while waiting for channel to be ready"
                                                + " for connect")))
                .isEqualTo(FailureClass.TRANSIENT);
        // A DataNode read timeout under a message whose path happens to hold a marker word.
        assertThat(
                        HdfsFailureClassifier.classify(
                                new IOException(
                                        "Could not upload to /flink/forbidden-city-etl/chk-7/state",
                                        new SocketTimeoutException("65000 millis timeout"))))
                .as("a timeout under any message is worth a retry")
                .isEqualTo(FailureClass.TRANSIENT);
    }

    @Test
    void anExistingFileIsPermanent() {
        assertThat(
                        HdfsFailureClassifier.classify(
                                new org.apache.hadoop.fs.FileAlreadyExistsException(
                                        "rename destination /ckpt/chk-1/_metadata already exists")))
                .isEqualTo(FailureClass.PERMANENT);
        assertThat(
                        HdfsFailureClassifier.classify(
                                new java.nio.file.FileAlreadyExistsException(
                                        "hdfs://nn/ckpt/chk-1/_metadata")))
                .isEqualTo(FailureClass.PERMANENT);
    }

    @Test
    void aRemoteExceptionWithoutClassNameOrMessageIsClassified() {
        assertThat(HdfsFailureClassifier.classify(remote(null, null)))
                .isEqualTo(FailureClass.TRANSIENT);
        assertThat(HdfsFailureClassifier.classify(remote("com.example.Unknown", null)))
                .isEqualTo(FailureClass.TRANSIENT);
    }
}
