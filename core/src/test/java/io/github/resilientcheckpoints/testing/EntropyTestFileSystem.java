package io.github.resilientcheckpoints.testing;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.core.fs.BlockLocation;
import org.apache.flink.core.fs.EntropyInjectingFileSystem;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;
import org.apache.flink.core.fs.FileSystemKind;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;

/**
 * The local file system under the scheme {@code entropytest://}, entropy-injecting like Flink's S3
 * file systems: the marker {@link #MARKER} in a path becomes random characters. Two knobs make it
 * behave like an object store client: writes can hang until interrupted, and deletes on an
 * interrupted thread fail (the AWS SDK's {@code AbortedException}).
 */
public final class EntropyTestFileSystem extends FileSystem implements EntropyInjectingFileSystem {

    public static final String SCHEME = "entropytest";
    public static final String MARKER = "_entropy_";

    /** When set, every write blocks until its thread is interrupted. */
    public static volatile boolean hangWrites;

    public static final AtomicInteger REFUSED_DELETES = new AtomicInteger();
    private static final AtomicInteger ENTROPY = new AtomicInteger();

    private final LocalFileSystem local = new LocalFileSystem();

    private static Path local(Path p) {
        return new Path("file", null, p.toUri().getPath());
    }

    @Override
    public String getEntropyInjectionKey() {
        return MARKER;
    }

    @Override
    public String generateEntropy() {
        return String.format("e%04d", ENTROPY.incrementAndGet());
    }

    @Override
    public Path getWorkingDirectory() {
        return local.getWorkingDirectory();
    }

    @Override
    public Path getHomeDirectory() {
        return local.getHomeDirectory();
    }

    @Override
    public URI getUri() {
        return URI.create(SCHEME + ":///");
    }

    @Override
    public FileStatus getFileStatus(Path f) throws IOException {
        return local.getFileStatus(local(f));
    }

    @Override
    public BlockLocation[] getFileBlockLocations(FileStatus file, long start, long len)
            throws IOException {
        return local.getFileBlockLocations(file, start, len);
    }

    @Override
    public FSDataInputStream open(Path f, int bufferSize) throws IOException {
        return local.open(local(f), bufferSize);
    }

    @Override
    public FSDataInputStream open(Path f) throws IOException {
        return local.open(local(f));
    }

    @Override
    public FileStatus[] listStatus(Path f) throws IOException {
        return local.listStatus(local(f));
    }

    @Override
    public boolean delete(Path f, boolean recursive) throws IOException {
        if (Thread.currentThread().isInterrupted()) {
            REFUSED_DELETES.incrementAndGet();
            throw new IOException("AbortedException: Thread was interrupted (delete " + f + ")");
        }
        return local.delete(local(f), recursive);
    }

    @Override
    public boolean mkdirs(Path f) throws IOException {
        return local.mkdirs(local(f));
    }

    @Override
    public FSDataOutputStream create(Path f, WriteMode overwriteMode) throws IOException {
        FSDataOutputStream out = local.create(local(f), overwriteMode);
        return new FSDataOutputStream() {
            @Override
            public void write(int b) throws IOException {
                hangIfAsked();
                out.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len); // the bytes land, then the connection stalls
                hangIfAsked();
            }

            @Override
            public long getPos() throws IOException {
                return out.getPos();
            }

            @Override
            public void flush() throws IOException {
                out.flush();
            }

            @Override
            public void sync() throws IOException {
                out.sync();
            }

            @Override
            public void close() throws IOException {
                out.close();
            }
        };
    }

    private static void hangIfAsked() throws InterruptedIOException {
        if (!hangWrites) {
            return;
        }
        try {
            Thread.sleep(Long.MAX_VALUE);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("write interrupted");
        }
    }

    @Override
    public boolean rename(Path src, Path dst) throws IOException {
        return local.rename(local(src), local(dst));
    }

    @Override
    public boolean isDistributedFS() {
        return true;
    }

    /** Registered through {@code META-INF/services} of the test classpath. */
    public static final class Factory implements FileSystemFactory {
        @Override
        public String getScheme() {
            return SCHEME;
        }

        @Override
        public FileSystem create(URI fsUri) {
            return new EntropyTestFileSystem();
        }
    }

    /** Abstract in Flink 1.20's FileSystem (no @Override: Flink 2.x no longer declares it). */
    public FileSystemKind getKind() {
        return FileSystemKind.FILE_SYSTEM;
    }
}
