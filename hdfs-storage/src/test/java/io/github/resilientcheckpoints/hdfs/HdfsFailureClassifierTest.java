package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.store.FailureClass;
import java.io.IOException;
import java.net.ConnectException;
import org.apache.hadoop.ipc.RemoteException;
import org.apache.hadoop.ipc.RetriableException;
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
}
