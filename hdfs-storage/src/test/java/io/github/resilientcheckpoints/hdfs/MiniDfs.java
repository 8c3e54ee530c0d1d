package io.github.resilientcheckpoints.hdfs;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * A real HDFS on loopback (NameNode + DataNodes in this JVM), owned and shut down by a test class.
 */
final class MiniDfs implements AutoCloseable {

    final MiniDFSCluster cluster;

    MiniDfs(Path baseDir, int dataNodes) throws IOException {
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, baseDir.toAbsolutePath().toString());
        conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
        conf.set("dfs.namenode.http-address", "127.0.0.1:0");
        conf.set("dfs.datanode.address", "127.0.0.1:0");
        conf.set("dfs.datanode.http.address", "127.0.0.1:0");
        conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
        // Small blocks so that a few MiB already span several blocks and pipelines.
        conf.setLong("dfs.blocksize", 1 << 20);
        conf.setLong("dfs.namenode.fs-limits.min-block-size", 64 * 1024);
        conf.setInt("dfs.client.retry.window.base", 100);
        cluster = new MiniDFSCluster.Builder(conf).numDataNodes(dataNodes).build();
        cluster.waitActive();
    }

    URI uri() {
        return cluster.getURI();
    }

    DistributedFileSystem fs() throws IOException {
        return cluster.getFileSystem();
    }

    Configuration conf() {
        return cluster.getConfiguration(0);
    }

    @Override
    public void close() {
        cluster.shutdown(true);
    }
}
