package io.github.resilientcheckpoints.hdfs;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/**
 * A NameNode address that never answers, on 127.0.0.1: the kernel completes every TCP handshake
 * (the socket is never accepted from), the client sends its call and waits for an answer that never
 * comes, as with a NameNode stuck in a long GC pause or an overloaded RPC queue.
 *
 * <p>{@link #fillBacklog()} turns it into an address whose connects time out: once the accept queue
 * is full, Linux drops further SYNs, so a client's connect hangs until its connect timeout.
 */
final class SilentNameNode implements AutoCloseable {

    private final ServerSocket server;
    private final List<Socket> fillers = new ArrayList<>();

    SilentNameNode() throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    }

    URI uri() {
        return URI.create("hdfs://127.0.0.1:" + server.getLocalPort());
    }

    /**
     * Opens connections until one cannot complete its handshake: from then on connects to this
     * address time out. Returns whether that state was reached.
     */
    boolean fillBacklog() throws IOException {
        for (int i = 0; i < 256; i++) {
            Socket s = new Socket();
            fillers.add(s);
            try {
                s.connect(
                        new InetSocketAddress(
                                InetAddress.getLoopbackAddress(), server.getLocalPort()),
                        300);
            } catch (SocketTimeoutException full) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void close() throws IOException {
        for (Socket s : fillers) {
            s.close();
        }
        server.close();
    }
}
