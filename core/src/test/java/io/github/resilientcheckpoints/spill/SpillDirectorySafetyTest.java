package io.github.resilientcheckpoints.spill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.resilientcheckpoints.SpillFallback;
import io.github.resilientcheckpoints.time.Ticker;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The spill sub-directory has a fixed name, under {@code /tmp} by default, and the stale sweep
 * deletes what it finds there: another local user must not be able to squat it, plant a link that
 * gets a directory of theirs (or ours) emptied, or read the state in spill files.
 */
class SpillDirectorySafetyTest {

    @TempDir Path root;
    @TempDir Path victim;

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

    @Test
    void aPlantedLinkToAnotherDirectoryNeverGetsItEmptied() throws Exception {
        Path precious = Files.writeString(victim.resolve("precious.txt"), "keep me");
        Files.createDirectories(sub());
        Files.createSymbolicLink(sub().resolve(SpillOwner.OWNER_PREFIX + "x"), victim);

        try (SpillSpace space = space()) {
            space.deleteStaleFiles();
        }

        assertThat(precious).exists().hasContent("keep me");
    }

    @Test
    void spillFilesAndTheDirectoryAreThisUsersOnly() throws Exception {
        try (SpillSpace space = space()) {
            SpillSpace.Reservation r = space.reserve(1000).orElseThrow();
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(r.file())))
                    .isEqualTo("rw-------");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sub())))
                    .isEqualTo("rwx------");
            assertThat(
                            PosixFilePermissions.toString(
                                    Files.getPosixFilePermissions(r.file().getParent())))
                    .isEqualTo("rwx------");
            r.release(0);
        }
    }

    @Test
    void aWorldWritableSubDirectoryOfThisUserIsClosedUp() throws Exception {
        Files.createDirectories(sub());
        Files.setPosixFilePermissions(sub(), PosixFilePermissions.fromString("rwxrwxrwx"));

        SpillDirectories.prepare(root);

        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sub())))
                .isEqualTo("rwx------");
    }

    @Test
    void aSubDirectoryThatIsALinkIsRefused() throws Exception {
        Files.createSymbolicLink(sub(), victim);

        assertThatThrownBy(() -> SpillDirectories.prepare(root))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(sub().toString())
                .hasMessageContaining("symbolic link");
    }

    @Test
    void aSubDirectoryOfAnotherUserIsRefused() throws Exception {
        assumeTrue(
                "root".equals(System.getProperty("user.name")),
                "giving a directory to another user needs root (CI runs as root)");
        Files.createDirectories(sub());
        UserPrincipal nobody =
                root.getFileSystem()
                        .getUserPrincipalLookupService()
                        .lookupPrincipalByName("nobody");
        Files.setOwner(sub(), nobody);
        assertThat(Files.getOwner(sub(), LinkOption.NOFOLLOW_LINKS)).isEqualTo(nobody);

        assertThatThrownBy(() -> SpillDirectories.prepare(root))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(sub().toString())
                .hasMessageContaining("belongs to user 'nobody'");
    }
}
