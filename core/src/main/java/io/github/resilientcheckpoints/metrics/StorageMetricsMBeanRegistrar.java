package io.github.resilientcheckpoints.metrics;

import java.lang.management.ManagementFactory;
import java.util.Map;
import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.AttributeNotFoundException;
import javax.management.DynamicMBean;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanInfo;
import javax.management.MBeanServer;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes a runtime's counters as read-only JMX attributes under {@code
 * io.github.resilientcheckpoints:type=CheckpointUploads,runtime=<name>}: one attribute per entry of
 * {@link StorageMetrics#snapshot()}.
 */
public final class StorageMetricsMBeanRegistrar {

    private static final Logger LOG = LoggerFactory.getLogger(StorageMetricsMBeanRegistrar.class);

    public static final String DOMAIN = "io.github.resilientcheckpoints";

    private StorageMetricsMBeanRegistrar() {}

    /** Registers the bean and returns what unregisters it; a failure is logged, never thrown. */
    public static Runnable register(String runtimeName, StorageMetrics metrics) {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        try {
            ObjectName name = objectName(runtimeName);
            if (server.isRegistered(name)) {
                // Another copy of this jar (bundled in a job jar) owns the name: never take its
                // bean away when this copy closes.
                LOG.warn("JMX name {} is taken by another copy of the storage in this JVM", name);
                return () -> {};
            }
            server.registerMBean(new Bean(metrics), name);
            return () -> {
                try {
                    server.unregisterMBean(name);
                } catch (Exception e) {
                    LOG.debug("Could not unregister {}", name, e);
                }
            };
        } catch (Exception e) {
            LOG.warn("Could not register the checkpoint upload metrics in JMX: {}", e.toString());
            return () -> {};
        }
    }

    public static ObjectName objectName(String runtimeName) throws MalformedObjectNameException {
        return new ObjectName(
                DOMAIN + ":type=CheckpointUploads,runtime=" + ObjectName.quote(runtimeName));
    }

    private static final class Bean implements DynamicMBean {
        private final StorageMetrics metrics;

        Bean(StorageMetrics metrics) {
            this.metrics = metrics;
        }

        @Override
        public Object getAttribute(String attribute) throws AttributeNotFoundException {
            Long value = metrics.snapshot().get(attribute);
            if (value == null) {
                throw new AttributeNotFoundException(attribute);
            }
            return value;
        }

        @Override
        public void setAttribute(Attribute attribute) {
            throw new UnsupportedOperationException("checkpoint upload metrics are read-only");
        }

        @Override
        public AttributeList getAttributes(String[] attributes) {
            Map<String, Long> snapshot = metrics.snapshot();
            AttributeList list = new AttributeList();
            for (String a : attributes) {
                if (snapshot.containsKey(a)) {
                    list.add(new Attribute(a, snapshot.get(a)));
                }
            }
            return list;
        }

        @Override
        public AttributeList setAttributes(AttributeList attributes) {
            return new AttributeList();
        }

        @Override
        public Object invoke(String actionName, Object[] params, String[] signature) {
            throw new UnsupportedOperationException("no operations");
        }

        @Override
        public MBeanInfo getMBeanInfo() {
            MBeanAttributeInfo[] attrs =
                    metrics.snapshot().keySet().stream()
                            .map(k -> new MBeanAttributeInfo(k, "long", k, true, false, false))
                            .toArray(MBeanAttributeInfo[]::new);
            return new MBeanInfo(
                    Bean.class.getName(),
                    "Resilient Checkpoint Storage upload counters",
                    attrs,
                    null,
                    null,
                    null);
        }
    }
}
