package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.ConfigDocsTest;
import org.junit.jupiter.api.Test;

/** The README's HDFS key table is generated from {@link HdfsStoreOptions}; stale fails. */
class HdfsConfigDocsTest {

    @Test
    void readmeHdfsTableIsCurrent() throws Exception {
        ConfigDocsTest.assertReadmeTable(HdfsStoreOptions.class, "hdfs-config-table");
    }
}
