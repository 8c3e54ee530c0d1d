package io.github.resilientcheckpoints.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.store.SupportsPartUploads.PartUpload;
import java.io.IOException;
import java.io.InputStream;
import java.lang.ref.WeakReference;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;

/**
 * Issue 24 item 3: the threads a store starts (its part threads, the SDK's timeout scheduler) are
 * created by whatever thread first writes through it, on a TaskManager a job's snapshot thread,
 * whose context class loader is the job's user-code class loader. They must not keep it: once the
 * job is gone, its class loader can be collected while the store (shared per JVM) lives on.
 */
class S3ClassLoaderPinningTest {

    static final String BUCKET = "loaders";
    static final long MB = 1 << 20;

    @Test
    void aWritersContextClassLoaderIsNotKeptByTheStoresThreads() throws Exception {
        try (S3Server server = new S3Server()) {
            server.createBucket(BUCKET);
            Configuration conf = FlinkS3.config(server.endpoint());
            conf.setString(S3StoreOptions.PART_SIZE.key(), "5 mb");
            conf.setString(S3StoreOptions.MULTIPART_THRESHOLD.key(), "5 mb");
            S3Store store =
                    (S3Store)
                            new S3StoreProvider().create(URI.create("s3://" + BUCKET + "/"), conf);
            try {
                WeakReference<ClassLoader> loader = writeWithThrowawayContextLoader(store);
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (loader.get() != null && System.nanoTime() < end) {
                    System.gc();
                    byte[][] garbage = new byte[32][];
                    for (int i = 0; i < garbage.length; i++) {
                        garbage[i] = new byte[256 * 1024];
                    }
                    Thread.sleep(50);
                }
                List<String> holders = threadsWithContextLoader(loader.get());
                assertThat(loader.get())
                        .as(
                                "the writer's context class loader is still reachable; threads"
                                        + " holding it as their context class loader: %s",
                                holders)
                        .isNull();
            } finally {
                store.close();
            }
        }
    }

    /**
     * Writes a small file and a part upload from a thread whose context loader is thrown away, and
     * through a class of that loader (as a job's own serializer is on a snapshot thread's stack).
     */
    @SuppressWarnings("unchecked")
    private static WeakReference<ClassLoader> writeWithThrowawayContextLoader(S3Store store)
            throws Exception {
        ThrowawayLoader loader = new ThrowawayLoader();
        Consumer<Runnable> userCode =
                (Consumer<Runnable>)
                        loader.defineTrampoline().getDeclaredConstructor().newInstance();
        assertThat(userCode.getClass().getClassLoader()).isSameAs(loader);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Runnable writes =
                () -> {
                    try {
                        SyntheticSource small = new SyntheticSource(1000);
                        store.upload(small, new Path("s3://" + BUCKET + "/w/small"));
                        long size = 6 * MB;
                        SyntheticSource big = new SyntheticSource(size);
                        PartUpload upload =
                                store.startPartUpload(new Path("s3://" + BUCKET + "/w/big"));
                        upload.submitPart(1, S3RequestBodies.slice(big, 0, 5 * MB));
                        upload.complete(2, S3RequestBodies.slice(big, 5 * MB, size - 5 * MB));
                    } catch (Throwable t) {
                        failure.set(t);
                    }
                };
        Thread writer = new Thread(() -> userCode.accept(writes), "snapshot-writer");
        writer.setContextClassLoader(loader);
        writer.start();
        writer.join();
        if (failure.get() != null) {
            throw new AssertionError("writing through the store failed", failure.get());
        }
        WeakReference<ClassLoader> ref = new WeakReference<>(loader);
        loader.close();
        return ref;
    }

    /** A job's class: calls what it is given, so that its frame is on the caller's stack. */
    public static final class Trampoline implements Consumer<Runnable> {
        public Trampoline() {}

        @Override
        public void accept(Runnable r) {
            r.run();
        }
    }

    /** A user-code class loader of a job that is gone: it defines its own {@link Trampoline}. */
    private static final class ThrowawayLoader extends URLClassLoader {
        ThrowawayLoader() {
            super(new URL[0], S3ClassLoaderPinningTest.class.getClassLoader());
        }

        Class<?> defineTrampoline() throws IOException {
            String name = Trampoline.class.getName();
            byte[] bytes;
            try (InputStream in =
                    getParent().getResourceAsStream(name.replace('.', '/') + ".class")) {
                bytes = in.readAllBytes();
            }
            return defineClass(name, bytes, 0, bytes.length);
        }
    }

    private static List<String> threadsWithContextLoader(ClassLoader loader) {
        List<String> names = new ArrayList<>();
        if (loader == null) {
            return names;
        }
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getContextClassLoader() == loader) {
                names.add(t.getName());
            }
        }
        return names;
    }
}
