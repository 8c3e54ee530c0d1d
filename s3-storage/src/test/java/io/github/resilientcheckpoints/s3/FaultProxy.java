package io.github.resilientcheckpoints.s3;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An HTTP/1.1 proxy on 127.0.0.1 between an S3 client and an S3 server that misbehaves on purpose,
 * per request: answers {@code 503 SlowDown}, resets the connection mid-body, adds latency, caps
 * bandwidth. One request per connection (it forces {@code Connection: close}), which keeps it
 * simple and is what a client sees after every fault anyway.
 */
final class FaultProxy implements AutoCloseable {

    private final ServerSocket server;
    private final URI upstream;
    private final ExecutorService pool = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "fault-proxy");
        t.setDaemon(true);
        return t;
    });
    private final Random random = new Random(42);

    volatile double slowDownRatio;
    volatile double resetRatio;
    /** Share of requests whose body is forwarded with one byte flipped (corruption in transit). */
    volatile double corruptRatio;
    volatile long latencyMillis;
    volatile long bytesPerSecond;
    /** Only requests whose request line contains this are candidates for faults (null: all). */
    volatile String faultOnlyIf;

    final AtomicLong requests = new AtomicLong();
    final AtomicLong slowDowns = new AtomicLong();
    final AtomicLong resets = new AtomicLong();
    final AtomicLong corruptions = new AtomicLong();
    /**
     * Fault candidates that the proxy failed to relay without injecting a fault (the upstream server
     * or the loopback connection failed): the client sees them as faults too.
     */
    final AtomicLong relayFailures = new AtomicLong();

    FaultProxy(URI upstream) throws IOException {
        this.upstream = upstream;
        this.server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        pool.execute(this::acceptLoop);
    }

    URI endpoint() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort());
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                pool.execute(() -> handle(client));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void handle(Socket client) {
        boolean candidateRelay = false;
        try (client) {
            InputStream in = client.getInputStream();
            String head = readHead(in);
            if (head == null) {
                return;
            }
            requests.incrementAndGet();
            if (head.toLowerCase(Locale.ROOT).contains("\r\nexpect: 100-continue")) {
                // The client waits for this before sending the body; we read the body ourselves.
                write(client.getOutputStream(), "HTTP/1.1 100 Continue\r\n\r\n");
            }
            String requestLine = head.substring(0, head.indexOf("\r\n"));
            long length = contentLength(head);
            boolean candidate = faultOnlyIf == null || requestLine.contains(faultOnlyIf);
            double draw;
            synchronized (random) {
                draw = random.nextDouble();
            }
            if (candidate && draw < slowDownRatio) {
                slowDowns.incrementAndGet();
                in.skipNBytes(length);
                String body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
                        + "<Message>Please reduce your request rate.</Message></Error>";
                write(client.getOutputStream(), "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                        + "Content-Length: " + body.length() + "\r\nConnection: close\r\n\r\n" + body);
                return;
            }
            if (candidate && draw < slowDownRatio + resetRatio && length > 1) {
                resets.incrementAndGet();
                in.skipNBytes(length / 2);
                client.setSoLinger(true, 0); // RST instead of FIN
                return;
            }
            boolean corrupt = candidate && length > 0
                    && draw >= slowDownRatio + resetRatio && draw < slowDownRatio + resetRatio + corruptRatio;
            if (corrupt) {
                corruptions.incrementAndGet();
            }
            if (latencyMillis > 0) {
                Thread.sleep(latencyMillis);
            }
            candidateRelay = candidate;
            try (Socket up = new Socket(upstream.getHost(), upstream.getPort())) {
                OutputStream upOut = up.getOutputStream();
                write(upOut, forceClose(head));
                copy(in, upOut, length, corrupt ? length / 2 : -1);
                upOut.flush();
                InputStream upIn = up.getInputStream();
                OutputStream out = client.getOutputStream();
                byte[] buf = new byte[64 * 1024];
                int n;
                while ((n = upIn.read(buf)) > 0) {
                    out.write(buf, 0, n);
                }
                out.flush();
            }
            candidateRelay = false;
        } catch (IOException | InterruptedException e) {
            if (candidateRelay && !server.isClosed()) {
                relayFailures.incrementAndGet();
                System.err.println("FaultProxy: relaying a request failed without an injected fault: " + e);
            }
            // the client or the server went away; nothing to relay
        }
    }

    private void copy(InputStream in, OutputStream out, long length, long flipAt)
            throws IOException, InterruptedException {
        byte[] buf = new byte[16 * 1024];
        long left = length;
        while (left > 0) {
            long pos = length - left;
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new IOException("client body ended early");
            }
            if (flipAt >= pos && flipAt < pos + n) {
                buf[(int) (flipAt - pos)] ^= 0x5a;
            }
            out.write(buf, 0, n);
            left -= n;
            long rate = bytesPerSecond;
            if (rate > 0) {
                Thread.sleep(Math.max(1, n * 1000L / rate));
            }
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        int b;
        while ((b = in.read()) >= 0) {
            head.write(b);
            matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
            if (matched == 4) {
                return head.toString(StandardCharsets.ISO_8859_1);
            }
        }
        return null;
    }

    private static long contentLength(String head) throws IOException {
        for (String line : head.split("\r\n")) {
            String lower = line.toLowerCase(Locale.ROOT);
            if (lower.startsWith("content-length:")) {
                return Long.parseLong(line.substring(15).trim());
            }
            if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
                throw new IOException("chunked request bodies are not supported by the fault proxy");
            }
        }
        return 0;
    }

    private static String forceClose(String head) {
        StringBuilder sb = new StringBuilder();
        for (String line : head.split("\r\n")) {
            String lower = line.toLowerCase(Locale.ROOT);
            if (!lower.startsWith("connection:") && !lower.startsWith("expect:") && !line.isEmpty()) {
                sb.append(line).append("\r\n");
            }
        }
        return sb.append("Connection: close\r\n\r\n").toString();
    }

    private static void write(OutputStream out, String s) throws IOException {
        out.write(s.getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
    }

    @Override
    public void close() throws IOException {
        server.close();
        pool.shutdownNow();
        try {
            pool.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
