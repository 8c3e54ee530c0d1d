package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.spill.SpillSpace;
import io.github.resilientcheckpoints.upload.StateFileUpload;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Optional;
import javax.annotation.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A stream's spill file: the disk reservation for its bytes and the stream that writes them. */
record SpillFile(SpillSpace.Reservation reservation, FileOutputStream out) {

    private static final Logger LOG = LoggerFactory.getLogger(SpillFile.class);

    /**
     * Reserves {@code bytes} and creates the spill file: in place in the target directory when the
     * upload can adopt it there (the same file system as the chosen spill directory), else in that
     * spill directory.
     *
     * @return null when no spill directory has room
     */
    @Nullable
    static SpillFile create(SpillSpace space, long bytes, StateFileUpload upload)
            throws IOException {
        Optional<SpillSpace.Reservation> r = space.reserve(bytes, upload::placeSpillFile);
        if (r.isPresent() && upload.spillFileInPlace()) {
            try {
                // Created here, as Flink's own stream creates its file in the target directory.
                FileOutputStream out = new FileOutputStream(r.get().file().toFile());
                upload.spillFileOpenedInPlace(out.getFD());
                return new SpillFile(r.get(), out);
            } catch (IOException notThere) {
                // The target directory is gone or refuses files: an ordinary spill file then.
                LOG.debug("Spill file not created in place: {}", notThere.toString());
                r.get().release(0);
                upload.spillFileNotInPlace();
                r = space.reserve(bytes);
            }
        }
        if (r.isEmpty()) {
            return null;
        }
        try {
            return new SpillFile(r.get(), new FileOutputStream(r.get().file().toFile()));
        } catch (IOException e) {
            Files.deleteIfExists(r.get().file());
            r.get().release(0);
            throw e;
        }
    }
}
