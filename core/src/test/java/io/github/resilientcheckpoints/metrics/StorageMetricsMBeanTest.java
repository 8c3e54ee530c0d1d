package io.github.resilientcheckpoints.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.store.FailureClass;
import java.lang.management.ManagementFactory;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;

class StorageMetricsMBeanTest {

    @Test
    void countersAreReadableOverJmxAndUnregistered() throws Exception {
        StorageMetrics metrics = new StorageMetrics();
        Runnable unregister = StorageMetricsMBeanRegistrar.register("jmx-test", metrics);
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        ObjectName name = StorageMetricsMBeanRegistrar.objectName("jmx-test");
        try {
            metrics.uploadStarted();
            metrics.attemptStarted(1);
            metrics.attemptFailed(FailureClass.THROTTLED, false);
            metrics.attemptStarted(2);
            metrics.uploadSucceeded(1234);
            assertThat(server.getAttribute(name, "uploadsSucceeded")).isEqualTo(1L);
            assertThat(server.getAttribute(name, "uploadRetries")).isEqualTo(1L);
            assertThat(server.getAttribute(name, "failuresThrottled")).isEqualTo(1L);
            assertThat(server.getAttribute(name, "bytesUploaded")).isEqualTo(1234L);
            assertThat(server.getMBeanInfo(name).getAttributes())
                    .hasSize(metrics.snapshot().size());
        } finally {
            unregister.run();
        }
        assertThat(server.isRegistered(name)).isFalse();
    }
}
