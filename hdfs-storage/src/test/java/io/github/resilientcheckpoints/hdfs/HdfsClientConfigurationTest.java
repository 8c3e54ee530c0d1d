package io.github.resilientcheckpoints.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.configuration.Configuration;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.junit.jupiter.api.Test;

/**
 * The HDFS store's client asks the NameNode again to complete a file after 50 ms (Hadoop: 400 ms),
 * doubling, 8 times: the same total patience, a commit that does not sit out 400 ms whenever the
 * last block's report is late. A user's own value for either key wins.
 */
class HdfsClientConfigurationTest {

    private static final String FIRST_DELAY =
            "dfs.client.block.write.locateFollowingBlock.initial.delay.ms";
    private static final String RETRIES = "dfs.client.block.write.locateFollowingBlock.retries";

    @Test
    void completeFileIsAskedAgainSoonerWithTheSamePatience() {
        new HdfsConfiguration(); // loads hdfs-default.xml, as the HDFS client does
        org.apache.hadoop.conf.Configuration hadoop =
                HdfsStoreProvider.hadoopConfiguration(new Configuration());

        long firstDelay = hadoop.getLong(FIRST_DELAY, -1);
        int retries = hadoop.getInt(RETRIES, -1);
        assertThat(firstDelay).isEqualTo(50);
        long patience = 0;
        for (int i = 0; i < retries; i++) {
            patience += firstDelay << i;
        }
        assertThat(patience).as("no less patient than Hadoop's 400 ms x 5").isGreaterThan(12_400);
    }

    @Test
    void aValueTheUserSetWins() {
        Configuration flink = new Configuration();
        flink.setString("flink.hadoop." + FIRST_DELAY, "400");
        org.apache.hadoop.conf.Configuration hadoop = HdfsStoreProvider.hadoopConfiguration(flink);

        assertThat(hadoop.getLong(FIRST_DELAY, -1)).isEqualTo(400);
        assertThat(hadoop.getInt(RETRIES, -1)).as("Hadoop's own default").isEqualTo(5);
    }
}
