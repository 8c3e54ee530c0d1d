package io.github.resilientcheckpoints.hdfs;

import io.github.resilientcheckpoints.ConfigDocsTest;
import org.junit.jupiter.api.Test;

/**
 * The HDFS key table in {@code docs/hdfs.md} is generated from {@link HdfsStoreOptions}; stale
 * fails.
 */
class HdfsConfigDocsTest {

    @Test
    void docsPageHdfsTableIsCurrent() throws Exception {
        ConfigDocsTest.assertDocsTable(HdfsStoreOptions.class, "docs/hdfs.md", "hdfs-config-table");
    }
}
