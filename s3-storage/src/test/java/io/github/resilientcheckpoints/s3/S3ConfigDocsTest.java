package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.ConfigDocsTest;
import org.junit.jupiter.api.Test;

/** The S3 key table in {@code docs/s3.md} is generated from {@link S3StoreOptions}; stale fails. */
class S3ConfigDocsTest {

    @Test
    void docsPageS3TableIsCurrent() throws Exception {
        ConfigDocsTest.assertDocsTable(S3StoreOptions.class, "docs/s3.md", "s3-config-table");
    }
}
