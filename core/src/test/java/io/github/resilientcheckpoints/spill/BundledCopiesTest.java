package io.github.resilientcheckpoints.spill;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A storage jar bundled in job jars is loaded once per job (Flink loads user code child-first): two
 * copies of the spill code live in one TaskManager. One copy's stale-file sweep must never open the
 * other's marker: closing that channel would drop this process's POSIX lock on it, and another
 * TaskManager sharing the directory could then delete live spill files.
 */
public class BundledCopiesTest {

    @TempDir Path root;

    public static SpillLimits limits() {
        return new SpillLimits(
                0,
                0.0,
                Long.MAX_VALUE,
                1 << 20,
                Duration.ofSeconds(1),
                SpillFallback.MEMORY,
                1 << 20);
    }

    @Test
    void aSecondCopysSweepLeavesTheFirstCopysLockHeld() throws Exception {
        try (SpillSpace first =
                new SpillSpace(List.of(root), limits(), FreeSpaceProbe.FILE_STORE, Ticker.SYSTEM)) {
            SpillSpace.Reservation live = first.reserve(1024).orElseThrow();
            Path marker = live.file().getParent().resolve(SpillOwner.MARKER);

            try (ChildFirst copy = new ChildFirst()) {
                Class<?> spaceClass = copy.loadClass(SpillSpace.class.getName());
                assertThat(spaceClass).isNotSameAs(SpillSpace.class);
                Object limits =
                        copy.loadClass(BundledCopiesTest.class.getName())
                                .getDeclaredMethod("limits")
                                .invoke(null);
                Object probe =
                        copy.loadClass(FreeSpaceProbe.class.getName())
                                .getField("FILE_STORE")
                                .get(null);
                Object ticker = copy.loadClass(Ticker.class.getName()).getField("SYSTEM").get(null);
                Constructor<?> create = spaceClass.getConstructors()[0];
                Object second = create.newInstance(List.of(root), limits, probe, ticker);
                Method sweep = spaceClass.getMethod("deleteStaleFiles");
                assertThat(sweep.invoke(second)).isEqualTo(0);
                spaceClass.getMethod("close").invoke(second);
            }

            assertThat(anotherProcessCanLock(marker))
                    .as("the first copy still holds its lock after the second copy's sweep")
                    .isFalse();
            assertThat(live.file()).exists();
            live.release(0);
        }
    }

    /** Asks a child JVM to take the lock: only another process can tell whether ours is held. */
    private static boolean anotherProcessCanLock(Path marker) throws Exception {
        Process child =
                new ProcessBuilder(
                                Paths.get(System.getProperty("java.home"), "bin", "java")
                                        .toString(),
                                "-cp",
                                System.getProperty("java.class.path"),
                                TryLock.class.getName(),
                                marker.toString())
                        .redirectError(ProcessBuilder.Redirect.INHERIT)
                        .start();
        try (BufferedReader out =
                new BufferedReader(
                        new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            String answer = out.readLine();
            assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(answer).isIn("LOCKED", "HELD");
            return "LOCKED".equals(answer);
        } finally {
            child.destroyForcibly();
        }
    }

    /** Child process: prints LOCKED if it could take the lock on the file given, else HELD. */
    public static final class TryLock {
        public static void main(String[] args) throws IOException {
            try (FileChannel channel =
                    FileChannel.open(Paths.get(args[0]), StandardOpenOption.WRITE)) {
                FileLock lock = channel.tryLock();
                System.out.println(lock == null ? "HELD" : "LOCKED");
            }
        }
    }

    /** Loads this project's classes again, as Flink's child-first user-code class loader does. */
    private static final class ChildFirst extends URLClassLoader {
        ChildFirst() {
            super(
                    new URL[] {
                        SpillSpace.class.getProtectionDomain().getCodeSource().getLocation(),
                        BundledCopiesTest.class.getProtectionDomain().getCodeSource().getLocation()
                    },
                    BundledCopiesTest.class.getClassLoader());
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            synchronized (getClassLoadingLock(name)) {
                if (!name.startsWith("io.github.resilientcheckpoints.")) {
                    return super.loadClass(name, resolve);
                }
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    try {
                        c = findClass(name);
                    } catch (ClassNotFoundException e) {
                        return super.loadClass(name, resolve);
                    }
                }
                if (resolve) {
                    resolveClass(c);
                }
                return c;
            }
        }
    }
}
