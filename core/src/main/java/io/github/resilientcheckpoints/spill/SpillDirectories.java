package io.github.resilientcheckpoints.spill;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Set;

/**
 * The spill sub-directory of a configured directory: created if needed, a real directory (no link),
 * owned by this process's user and closed to everyone else.
 */
final class SpillDirectories {

    static final Set<PosixFilePermission> OWNER_ONLY_DIRECTORY =
            PosixFilePermissions.fromString("rwx------");

    private static final FileAttribute<Set<PosixFilePermission>> OWNER_ONLY_FILE_ATTRIBUTE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));

    private SpillDirectories() {}

    /**
     * Creates the spill sub-directory under {@code dir} if needed and checks it is writable.
     *
     * @throws IOException naming the directory and the problem
     */
    static Path prepare(Path dir) throws IOException {
        Path sub = dir.toAbsolutePath().normalize().resolve(SpillSpace.SUBDIR);
        try {
            Files.createDirectories(sub);
        } catch (IOException e) {
            throw new IOException(
                    "spill directory '"
                            + dir
                            + "' does not exist and cannot be created ("
                            + e.getClass().getSimpleName()
                            + ": "
                            + e.getMessage()
                            + ")",
                    e);
        }
        if (Files.isSymbolicLink(sub)
                || !Files.isDirectory(sub, LinkOption.NOFOLLOW_LINKS)
                || !Files.isWritable(sub)) {
            throw new IOException(
                    "spill directory '"
                            + sub
                            + "' is not a writable directory (a symbolic link is not accepted)");
        }
        ownedByThisUser(sub);
        return sub;
    }

    /**
     * The spill sub-directory has a fixed, predictable name (under {@code /tmp} by default), and
     * the stale-file sweep deletes what it finds in it: it must belong to this process's user and
     * let nobody else in (mode 0700), or another local user could plant files or links there, or
     * read the state in spill files.
     */
    private static void ownedByThisUser(Path sub) throws IOException {
        if (!Files.getFileStore(sub).supportsFileAttributeView(PosixFileAttributeView.class)) {
            return;
        }
        UserPrincipal owner = Files.getOwner(sub, LinkOption.NOFOLLOW_LINKS);
        UserPrincipal me = currentUser(sub);
        if (!owner.equals(me)) {
            throw new IOException(
                    "spill directory '"
                            + sub
                            + "' belongs to user '"
                            + owner.getName()
                            + "', not to '"
                            + me.getName()
                            + "' who runs this TaskManager: another user may have created it to"
                            + " read or plant spill files. Remove it, or configure a directory of"
                            + " this user");
        }
        Set<PosixFilePermission> mode =
                Files.getPosixFilePermissions(sub, LinkOption.NOFOLLOW_LINKS);
        if (!mode.equals(OWNER_ONLY_DIRECTORY)) {
            Files.setPosixFilePermissions(sub, OWNER_ONLY_DIRECTORY);
        }
    }

    /** The user this process writes files as: the owner of a file it just created. */
    private static UserPrincipal currentUser(Path dir) throws IOException {
        Path probe = Files.createTempFile(dir, ".owner-check-", ".tmp", OWNER_ONLY_FILE_ATTRIBUTE);
        try {
            return Files.getOwner(probe, LinkOption.NOFOLLOW_LINKS);
        } finally {
            Files.deleteIfExists(probe);
        }
    }

    /** Spill files hold the job's state: readable by this user only, where the disk can say so. */
    static FileAttribute<?>[] ownerOnly(Path dir) throws IOException {
        return Files.getFileStore(dir).supportsFileAttributeView(PosixFileAttributeView.class)
                ? new FileAttribute<?>[] {OWNER_ONLY_FILE_ATTRIBUTE}
                : new FileAttribute<?>[0];
    }
}
