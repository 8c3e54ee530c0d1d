package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.testing.ByteSource;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.time.Duration;
import java.util.UUID;
import org.apache.flink.core.fs.Path;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.protocol.HdfsConstants;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The store serves a TaskManager for as long as it runs: its per-directory caches (quota headroom,
 * storage policy applied) must not grow by one entry per checkpoint directory forever.
 */
class HdfsStoreCacheTest {

    @TempDir static java.nio.file.Path base;

    private static MiniDfs dfs;
    private static HdfsStore store;

    @BeforeAll
    static void startHdfs() throws IOException {
        dfs = new MiniDfs(base, 1);
        // A long quota interval: entries would live on; "HOT" is a policy every HDFS has.
        store =
                new HdfsStore(
                        FileSystem.newInstance(dfs.uri(), dfs.conf()),
                        1,
                        "HOT",
                        Duration.ofHours(1),
                        Ticker.SYSTEM);
    }

    @AfterAll
    static void stopHdfs() throws IOException {
        if (store != null) {
            store.close();
        }
        if (dfs != null) {
            dfs.close();
        }
    }

    @Test
    void uploadsIntoAThousandCheckpointDirectoriesKeepTheCachesBounded() throws Exception {
        String job = dfs.uri() + "/ckpt/" + UUID.randomUUID();
        long quotaViewsBefore = store.quotaCacheSize(); // other tests share the store
        for (int n = 1; n <= 1000; n++) {
            store.upload(new ByteSource(new byte[0]), new Path(job + "/chk-" + n + "/state"));
        }
        store.upload(new ByteSource(new byte[0]), new Path(job + "/shared/state"));
        assertThat(store.quotaCacheSize())
                .as("quota views are per job directory, not per chk-N")
                .isLessThanOrEqualTo(quotaViewsBefore + 2);
        assertThat(store.policyCacheSize())
                .as("policy cache")
                .isLessThanOrEqualTo(HdfsStore.MAX_CACHED_DIRECTORIES);
        assertThat(
                        dfs.fs()
                                .getStoragePolicy(new org.apache.hadoop.fs.Path(job + "/chk-1000"))
                                .getName())
                .isEqualTo("HOT");
    }

    @Test
    void aQuotaOnTheJobDirectoryStillBoundsEveryCheckpointDirectory() throws Exception {
        String job = "/ckpt/" + UUID.randomUUID();
        org.apache.hadoop.fs.Path jobDir = new org.apache.hadoop.fs.Path(job);
        dfs.fs().mkdirs(jobDir);
        dfs.fs().setQuota(jobDir, HdfsConstants.QUOTA_DONT_SET, 1L << 20);
        store.upload(new ByteSource(new byte[100]), new Path(dfs.uri() + job + "/chk-1/small"));
        assertThatThrownBy(
                        () ->
                                store.upload(
                                        new ByteSource(new byte[2 << 20]),
                                        new Path(dfs.uri() + job + "/chk-2/big")))
                .isInstanceOf(QuotaHeadroomException.class)
                .hasMessageContaining("space quota of '" + dfs.uri() + job + "'");
    }
}
