package io.github.resilientcheckpoints.s3;

/** A loopback S3 server with one bucket behind a {@link FaultProxy}; closes both. */
final class ProxiedS3 implements AutoCloseable {

    final S3Server server;
    final FaultProxy proxy;

    ProxiedS3(String bucket) throws Exception {
        server = new S3Server();
        try {
            server.createBucket(bucket);
            proxy = new FaultProxy(server.endpoint());
        } catch (Exception | Error e) {
            server.close();
            throw e;
        }
    }

    @Override
    public void close() throws Exception {
        try {
            proxy.close();
        } finally {
            server.close();
        }
    }
}
