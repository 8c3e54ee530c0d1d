package io.github.resilientcheckpoints.spill;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which leftovers the stale sweep deletes: those whose owner's marker lock can be taken, whatever
 * process ids say. A lock held by another process needs another process: a child JVM.
 */
class StaleSpillSweepTest {

    @TempDir Path root;

    private static SpillLimits limits() {
        return new SpillLimits(
                0,
                0.0,
                Long.MAX_VALUE,
                1 << 20,
                Duration.ofSeconds(1),
                SpillFallback.MEMORY,
                1 << 20);
    }

    private SpillSpace space() throws IOException {
        return new SpillSpace(List.of(root), limits(), FreeSpaceProbe.FILE_STORE, Ticker.SYSTEM);
    }

    private Path sub() {
        return root.toAbsolutePath().normalize().resolve(SpillSpace.SUBDIR);
    }

    /** What a process that died (crash, kill -9, a container whose PID 1 restarted) left behind. */
    private Path deadOwnersDirectory() throws IOException {
        Path dir =
                Files.createDirectories(
                        sub().resolve(SpillOwner.OWNER_PREFIX + UUID.randomUUID() + "-dead"));
        Files.createFile(dir.resolve(SpillOwner.MARKER)); // nobody holds its lock
        Files.writeString(dir.resolve("rcs-" + UUID.randomUUID() + ".spill"), "state");
        return dir;
    }

    @Test
    void leftoverOfADeadOwnerIsSwept() throws Exception {
        try (SpillSpace space = space()) {
            Path dead = deadOwnersDirectory();

            assertThat(space.deleteStaleFiles()).isEqualTo(1);
            assertThat(dead).doesNotExist();
        }
    }

    @Test
    void filesOfAnotherLiveProcessSurviveTheSweepUntilItIsKilled() throws Exception {
        Process child =
                new ProcessBuilder(
                                Paths.get(System.getProperty("java.home"), "bin", "java")
                                        .toString(),
                                "-cp",
                                System.getProperty("java.class.path"),
                                Holder.class.getName(),
                                root.toString())
                        .redirectError(ProcessBuilder.Redirect.INHERIT)
                        .start();
        try {
            BufferedReader out =
                    new BufferedReader(
                            new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
            String line;
            do {
                line = out.readLine();
            } while (line != null && !line.startsWith("SPILLED "));
            assertThat(line).as("the child wrote a spill file").isNotNull();
            Path childsFile = Paths.get(line.substring("SPILLED ".length()));
            assertThat(childsFile).exists();

            try (SpillSpace space = space()) {
                assertThat(space.deleteStaleFiles())
                        .as("the child lives and holds its lock")
                        .isZero();
                assertThat(childsFile).exists();

                child.destroyForcibly();
                assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();

                assertThat(space.deleteStaleFiles())
                        .as("the lock died with the child")
                        .isEqualTo(1);
                assertThat(childsFile).doesNotExist();
                assertThat(childsFile.getParent()).doesNotExist();
            }
        } finally {
            child.destroyForcibly();
            child.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void spacesOfOneProcessNeverSweepEachOther() throws Exception {
        try (SpillSpace first = space();
                SpillSpace second = space()) {
            SpillSpace.Reservation r = first.reserve(1024).orElseThrow();
            assertThat(second.deleteStaleFiles()).isZero();
            assertThat(r.file()).exists();
            r.release(0);
        }
    }

    @Test
    void aProcessStartingUpIsLeftAloneOneThatDiedStartingIsSweptLater() throws Exception {
        try (SpillSpace space = space()) {
            Path young =
                    Files.createDirectories(
                            sub().resolve(
                                            SpillOwner.OWNER_PREFIX
                                                    + UUID.randomUUID()
                                                    + SpillOwner.STARTING_SUFFIX));
            Path old =
                    Files.createDirectories(
                            sub().resolve(
                                            SpillOwner.OWNER_PREFIX
                                                    + UUID.randomUUID()
                                                    + SpillOwner.STARTING_SUFFIX));
            Files.setLastModifiedTime(old, FileTime.from(Instant.now().minus(Duration.ofHours(2))));

            space.deleteStaleFiles();
            assertThat(young).exists();
            assertThat(old).doesNotExist();
        }
    }

    @Test
    void closeDeletesTheSpacesOwnDirectory() throws Exception {
        SpillSpace space = space();
        Path file = space.reserve(1024).orElseThrow().file();
        Path own = file.getParent();
        space.close();
        space.close();
        assertThat(own).doesNotExist();
        try (Stream<Path> left = Files.list(sub())) {
            assertThat(left).isEmpty();
        }
    }

    /**
     * Child process: opens a spill space on the directory given, spills a file and waits to be
     * killed.
     */
    public static final class Holder {
        public static void main(String[] args) throws Exception {
            SpillSpace space =
                    new SpillSpace(
                            List.of(Paths.get(args[0])),
                            limits(),
                            FreeSpaceProbe.FILE_STORE,
                            Ticker.SYSTEM);
            SpillSpace.Reservation r = space.reserve(1024).orElseThrow();
            Files.writeString(r.file(), "child state");
            System.out.println("SPILLED " + r.file());
            System.out.flush();
            Thread.sleep(TimeUnit.MINUTES.toMillis(5));
        }
    }
}
