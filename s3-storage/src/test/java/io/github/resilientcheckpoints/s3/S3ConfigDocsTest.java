package io.github.resilientcheckpoints.s3;

import io.github.resilientcheckpoints.ConfigDocsTest;
import org.junit.jupiter.api.Test;

/** The README's S3 key table is generated from {@link S3StoreOptions}; stale fails. */
class S3ConfigDocsTest {

    @Test
    void readmeS3TableIsCurrent() throws Exception {
        ConfigDocsTest.assertReadmeTable(S3StoreOptions.class, "s3-config-table");
    }
}
