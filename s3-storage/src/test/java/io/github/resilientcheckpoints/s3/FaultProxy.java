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
import java.util.Queue;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;

/**
 * An HTTP/1.1 proxy on 127.0.0.1 between an S3 client and an S3 server that misbehaves on purpose,
 * per request: answers {@code 503 SlowDown}, resets the connection mid-body, adds latency, caps
 * bandwidth; and any {@link Fault} shape (error answers with an XML, empty or HTML body, resets,
 * closes, no answer, truncated or trickling answers) for the first N matching requests or a share
 * of them. One request per connection (it forces {@code Connection: close}), which keeps it simple
 * and is what a client sees after every fault anyway.
 */
final class FaultProxy implements AutoCloseable {

    private final ServerSocket server;
    private final URI upstream;
    private final ExecutorService pool =
            Executors.newCachedThreadPool(
                    r -> {
                        Thread t = new Thread(r, "fault-proxy");
                        t.setDaemon(true);
                        return t;
                    });
    private final Random random = new Random(42);
    private final Random faultRandom = new Random(4242);
    private final Set<Socket> openSockets = ConcurrentHashMap.newKeySet();

    /** How a request is failed. */
    enum Shape {
        /** An S3 error answer with this status and an XML body with this code. */
        ERROR_XML,
        /** This status with an empty body (no error code). */
        ERROR_EMPTY,
        /** This status with an HTML body, as a load balancer answers. */
        ERROR_HTML,
        /** The request is read, then the connection reset (RST) without an answer. */
        RESET_BEFORE_ANSWER,
        /** Half the request body is read, then the connection closed (FIN). */
        CLOSE_MID_BODY,
        /**
         * The request head is read (and an upload's "100 Continue" sent), then the connection is
         * closed before any of the body is read: a kept-alive connection the server drops. The
         * JDK's client fails the upload with "Error writing request body to server" and never
         * resends a PUT itself.
         */
        CLOSE_BEFORE_BODY,
        /** The request is read and never answered; the client's timeout ends it. */
        NO_ANSWER,
        /**
         * The server's answer (the request took effect) is cut: after half its body, or, without a
         * body, within the status line.
         */
        TRUNCATED_ANSWER,
        /**
         * The server's answer (the request took effect) is cut after half its head: the JDK's
         * client takes what arrived as the whole head, so headers (an ETag) may be missing.
         */
        HEAD_CUT,
        /** The server's answer trickles back at {@link #trickleBytesPerSecond}. */
        TRICKLE_ANSWER
    }

    /** One fault: a shape and, for error answers, the status and S3 error code. */
    record Fault(Shape shape, int status, String code) {
        static Fault of(Shape shape) {
            return new Fault(shape, 0, null);
        }

        @Override
        public String toString() {
            return shape + (status > 0 ? " " + status : "") + (code != null ? " " + code : "");
        }
    }

    /** The fault {@link #faultIf} requests get (null: none). */
    volatile Fault fault;

    /** Which requests (by request line) are candidates for {@link #fault}. */
    volatile Predicate<String> faultIf = line -> false;

    /** Candidates failed unconditionally: the next this-many. */
    final AtomicInteger faultsLeft = new AtomicInteger();

    /** Share of the other candidates that is failed too (seeded). */
    volatile double faultRatio;

    final AtomicLong faultsInjected = new AtomicLong();

    volatile long trickleBytesPerSecond = 1024;

    /**
     * Requests whose request line matches are held, unanswered and not yet relayed, until {@link
     * #releaseHeld} (or {@link #close}); then they go on as usual (faults included).
     */
    volatile Predicate<String> holdIf = line -> false;

    /** Requests relayed to the server and answered back to the client in full. */
    final AtomicLong relayed = new AtomicLong();

    /** Requests held so far. */
    final AtomicLong held = new AtomicLong();

    private volatile java.util.concurrent.CountDownLatch release =
            new java.util.concurrent.CountDownLatch(1);

    /** Lets every held request (and every later matching one) through. */
    void releaseHeld() {
        holdIf = line -> false;
        release.countDown();
    }

    /** Waits until a request has been held. */
    boolean awaitHeld(long timeout, TimeUnit unit) throws InterruptedException {
        long end = System.nanoTime() + unit.toNanos(timeout);
        while (held.get() == 0) {
            if (System.nanoTime() > end) {
                return false;
            }
            Thread.sleep(5);
        }
        return true;
    }

    /** Arms {@code fault} for the next {@code times} requests whose request line matches. */
    void inject(Fault fault, Predicate<String> requests, int times) {
        this.faultRatio = 0;
        this.faultIf = requests;
        this.fault = fault;
        this.faultsLeft.set(times);
    }

    /** Arms {@code fault} for a share of the requests whose request line matches. */
    void injectRandomly(Fault fault, Predicate<String> requests, double ratio) {
        this.faultsLeft.set(0);
        this.faultIf = requests;
        this.fault = fault;
        this.faultRatio = ratio;
    }

    void clearFaults() {
        this.fault = null;
        this.faultIf = line -> false;
        this.faultsLeft.set(0);
        this.faultRatio = 0;
    }

    volatile double slowDownRatio;
    volatile double resetRatio;

    /** Share of requests whose body is forwarded with one byte flipped (corruption in transit). */
    volatile double corruptRatio;

    volatile long latencyMillis;
    volatile long bytesPerSecond;

    /** Only requests whose request line contains this are candidates for faults (null: all). */
    volatile String faultOnlyIf;

    /**
     * Requests whose request line matches are answered 403 AccessDenied (least-privilege policies).
     */
    volatile Predicate<String> denyIf = line -> false;

    /** Requests whose head (request line and headers) matches are answered 400 ExpiredToken. */
    volatile Predicate<String> expiredTokenIf = head -> false;

    /**
     * The next this-many requests whose request line matches {@link #dropResponseIf} reach the
     * server, but their answer is lost (the client's connection is reset instead).
     */
    final AtomicInteger responsesToDrop = new AtomicInteger();

    volatile Predicate<String> dropResponseIf = line -> false;

    /**
     * UploadPart requests with a higher part number are refused as S3 does above 10 000 (0: no
     * limit).
     */
    volatile int maxPartNumber;

    /** Every UploadPart seen: "partNumber:contentLength". */
    final Queue<String> partsSeen = new ConcurrentLinkedQueue<>();

    final AtomicLong requests = new AtomicLong();
    final AtomicLong expiredTokens = new AtomicLong();
    final AtomicLong droppedResponses = new AtomicLong();
    final AtomicLong noSuchUploads = new AtomicLong();

    /**
     * Uploads completed by a request whose answer was dropped: S3 answers a resend NoSuchUpload.
     */
    private final Set<String> completedUploads = ConcurrentHashMap.newKeySet();

    final AtomicLong slowDowns = new AtomicLong();
    final AtomicLong resets = new AtomicLong();
    final AtomicLong corruptions = new AtomicLong();

    /**
     * Fault candidates that the proxy failed to relay without injecting a fault (the upstream
     * server or the loopback connection failed): the client sees them as faults too.
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
        openSockets.add(client);
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
            if (holdIf.test(requestLine)) {
                held.incrementAndGet();
                while (!release.await(100, TimeUnit.MILLISECONDS)) {
                    if (server.isClosed()) {
                        return;
                    }
                }
            }
            long length = contentLength(head);
            boolean candidate = faultOnlyIf == null || requestLine.contains(faultOnlyIf);
            int partNumber = partNumber(requestLine);
            if (partNumber > 0) {
                partsSeen.add(partNumber + ":" + decodedLength(head, length));
            }
            Fault f = fault;
            if (f != null && faultIf.test(requestLine) && drawFault()) {
                faultsInjected.incrementAndGet();
                inject(f, client, in, head, requestLine, length);
                return;
            }
            if (denyIf.test(requestLine)) {
                in.skipNBytes(length);
                answer(client, requestLine, 403, "Forbidden", "AccessDenied", "Access Denied");
                return;
            }
            if (expiredTokenIf.test(head)) {
                expiredTokens.incrementAndGet();
                in.skipNBytes(length);
                answer(
                        client,
                        requestLine,
                        400,
                        "Bad Request",
                        "ExpiredToken",
                        "The provided token has expired.");
                return;
            }
            if (maxPartNumber > 0 && partNumber > maxPartNumber) {
                in.skipNBytes(length);
                answer(
                        client,
                        requestLine,
                        400,
                        "Bad Request",
                        "InvalidArgument",
                        "Part number must be an integer between 1 and " + maxPartNumber);
                return;
            }
            String uploadId = uploadId(requestLine);
            if (requestLine.startsWith("POST ")
                    && uploadId != null
                    && completedUploads.contains(uploadId)) {
                noSuchUploads.incrementAndGet();
                in.skipNBytes(length);
                answer(
                        client,
                        requestLine,
                        404,
                        "Not Found",
                        "NoSuchUpload",
                        "The specified multipart upload does not exist.");
                return;
            }
            boolean dropResponse =
                    dropResponseIf.test(requestLine)
                            && responsesToDrop.getAndUpdate(n -> Math.max(0, n - 1)) > 0;
            double draw;
            synchronized (random) {
                draw = random.nextDouble();
            }
            if (candidate && draw < slowDownRatio) {
                slowDowns.incrementAndGet();
                in.skipNBytes(length);
                String body =
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
                                + "<Message>Please reduce your request rate.</Message></Error>";
                write(
                        client.getOutputStream(),
                        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                                + "Content-Length: "
                                + body.length()
                                + "\r\nConnection: close\r\n\r\n"
                                + body);
                return;
            }
            if (candidate && draw < slowDownRatio + resetRatio && length > 1) {
                resets.incrementAndGet();
                in.skipNBytes(length / 2);
                client.setSoLinger(true, 0); // RST instead of FIN
                return;
            }
            boolean corrupt =
                    candidate
                            && length > 0
                            && draw >= slowDownRatio + resetRatio
                            && draw < slowDownRatio + resetRatio + corruptRatio;
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
                if (dropResponse) {
                    // The server did it; the client never hears so.
                    upIn.readAllBytes();
                    droppedResponses.incrementAndGet();
                    if (requestLine.startsWith("POST ") && uploadId != null) {
                        completedUploads.add(uploadId);
                    }
                    client.setSoLinger(true, 0);
                    return;
                }
                while ((n = upIn.read(buf)) > 0) {
                    out.write(buf, 0, n);
                }
                out.flush();
            }
            relayed.incrementAndGet();
            candidateRelay = false;
        } catch (IOException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            if (candidateRelay && !server.isClosed()) {
                relayFailures.incrementAndGet();
                System.err.println(
                        "FaultProxy: relaying a request failed without an injected fault: " + e);
            }
            // the client or the server went away; nothing to relay
        } finally {
            openSockets.remove(client);
        }
    }

    private boolean drawFault() {
        if (faultsLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            return true;
        }
        double ratio = faultRatio;
        if (ratio <= 0) {
            return false;
        }
        synchronized (faultRandom) {
            return faultRandom.nextDouble() < ratio;
        }
    }

    private void inject(
            Fault f, Socket client, InputStream in, String head, String requestLine, long length)
            throws IOException, InterruptedException {
        OutputStream out = client.getOutputStream();
        switch (f.shape()) {
            case ERROR_XML:
                in.skipNBytes(length);
                answer(client, requestLine, f.status(), "Injected", f.code(), "Injected fault");
                return;
            case ERROR_EMPTY:
                in.skipNBytes(length);
                write(
                        out,
                        "HTTP/1.1 "
                                + f.status()
                                + " Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                return;
            case ERROR_HTML:
                {
                    in.skipNBytes(length);
                    String body =
                            requestLine.startsWith("HEAD ")
                                    ? ""
                                    : "<html><head><title>"
                                            + f.status()
                                            + " Bad Gateway</title></head><body><center><h1>"
                                            + f.status()
                                            + " Bad Gateway</h1></center><hr><center>nginx</center>"
                                            + "</body></html>";
                    write(
                            out,
                            "HTTP/1.1 "
                                    + f.status()
                                    + " Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: "
                                    + body.length()
                                    + "\r\nConnection: close\r\n\r\n"
                                    + body);
                    return;
                }
            case RESET_BEFORE_ANSWER:
                in.skipNBytes(length);
                client.setSoLinger(true, 0);
                return;
            case CLOSE_MID_BODY:
                in.skipNBytes(length / 2);
                client.shutdownOutput(); // FIN while the client is still sending
                in.skip(length - length / 2);
                return;
            case CLOSE_BEFORE_BODY:
                client.close(); // unread body bytes make it a reset (RST) where they arrived
                return;
            case NO_ANSWER:
                in.skipNBytes(length);
                while (in.read() >= 0) {
                    // until the client gives up and closes, or the proxy closes
                }
                return;
            case TRUNCATED_ANSWER:
                {
                    byte[] answer = relay(head, in, length);
                    int headEnd =
                            new String(answer, StandardCharsets.ISO_8859_1).indexOf("\r\n\r\n") + 4;
                    int body = headEnd < 4 ? 0 : answer.length - headEnd;
                    out.write(
                            answer, 0, body > 0 ? headEnd + body / 2 : Math.min(6, answer.length));
                    out.flush();
                    return;
                }
            case HEAD_CUT:
                {
                    byte[] answer = relay(head, in, length);
                    out.write(answer, 0, answer.length / 2);
                    out.flush();
                    return;
                }
            case TRICKLE_ANSWER:
                {
                    byte[] answer = relay(head, in, length);
                    int chunk = 64;
                    long pause = Math.max(1, chunk * 1000L / Math.max(1, trickleBytesPerSecond));
                    for (int at = 0; at < answer.length; at += chunk) {
                        out.write(answer, at, Math.min(chunk, answer.length - at));
                        out.flush();
                        Thread.sleep(pause);
                    }
                    return;
                }
            default:
                throw new IllegalStateException("unknown fault " + f);
        }
    }

    /** Sends the request to the server and returns its whole answer (it closes after one). */
    private byte[] relay(String head, InputStream in, long length)
            throws IOException, InterruptedException {
        try (Socket up = new Socket(upstream.getHost(), upstream.getPort())) {
            OutputStream upOut = up.getOutputStream();
            write(upOut, forceClose(head));
            copy(in, upOut, length, -1);
            upOut.flush();
            return up.getInputStream().readAllBytes();
        }
    }

    private void copy(InputStream in, OutputStream out, long length, long flipAt)
            throws IOException, InterruptedException {
        // Large reads: each one is a system call on both sockets and, when capped, a sleep; the
        // pacing below keeps the rate exact whatever a read returns.
        byte[] buf = new byte[128 * 1024];
        long left = length;
        long started = System.nanoTime();
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
                // Paced against the start of the body, so many small sleeps do not add up to less.
                long due = started + (long) ((length - left) * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
        }
    }

    /**
     * The object bytes of a request: an aws-chunked body (with a checksum trailer) says them apart.
     */
    private static long decodedLength(String head, long length) {
        for (String line : head.split("\r\n")) {
            if (line.toLowerCase(Locale.ROOT).startsWith("x-amz-decoded-content-length:")) {
                return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
            }
        }
        return length;
    }

    private static String uploadId(String requestLine) {
        int at = requestLine.indexOf("uploadId=");
        if (at < 0) {
            return null;
        }
        int from = at + "uploadId=".length();
        int to = from;
        while (to < requestLine.length()
                && requestLine.charAt(to) != '&'
                && requestLine.charAt(to) != ' ') {
            to++;
        }
        return requestLine.substring(from, to);
    }

    private static int partNumber(String requestLine) {
        int at = requestLine.indexOf("partNumber=");
        if (at < 0) {
            return 0;
        }
        int from = at + "partNumber=".length();
        int to = from;
        while (to < requestLine.length() && Character.isDigit(requestLine.charAt(to))) {
            to++;
        }
        return to > from ? Integer.parseInt(requestLine.substring(from, to)) : 0;
    }

    /** An S3 error answer; a HEAD answer carries no body, as S3's does not. */
    private static void answer(
            Socket client,
            String requestLine,
            int status,
            String reason,
            String code,
            String message)
            throws IOException {
        String body =
                requestLine.startsWith("HEAD ")
                        ? ""
                        : "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>"
                                + code
                                + "</Code><Message>"
                                + message
                                + "</Message></Error>";
        write(
                client.getOutputStream(),
                "HTTP/1.1 "
                        + status
                        + " "
                        + reason
                        + "\r\nContent-Type: application/xml\r\n"
                        + "Content-Length: "
                        + body.length()
                        + "\r\nConnection: close\r\n\r\n"
                        + body);
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
                throw new IOException(
                        "chunked request bodies are not supported by the fault proxy");
            }
        }
        return 0;
    }

    private static String forceClose(String head) {
        StringBuilder sb = new StringBuilder();
        for (String line : head.split("\r\n")) {
            String lower = line.toLowerCase(Locale.ROOT);
            if (!lower.startsWith("connection:")
                    && !lower.startsWith("expect:")
                    && !line.isEmpty()) {
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
        for (Socket s : openSockets) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        pool.shutdownNow();
        try {
            pool.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
