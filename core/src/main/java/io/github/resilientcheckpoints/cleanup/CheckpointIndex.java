package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.store.CheckpointStore;
import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsListing;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.ToIntFunction;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

/**
 * Everything cleanup must know before it may delete anything under a checkpoint root: every job
 * directory under the scanned roots, each job's retained checkpoints, and every file those
 * checkpoints reference — whichever job directory the file lives in. Files cross job directories: a
 * job restored in CLAIM mode keeps referencing the old job's {@code shared/} files, and a job
 * restored in NO_CLAIM mode needs the restored {@code chk-N} until it has a checkpoint of its own.
 * The latter is invisible in any {@code _metadata}; it is read from the restore marker that this
 * storage's JobManager side writes into the restoring job's directory (see {@link RestoreMarker}).
 *
 * <p>A {@code _metadata} that cannot be read anywhere in the scanned roots leaves its references
 * unknown, so it stops every sweep that relies on this index.
 */
public final class CheckpointIndex {

    /** A job directory and what it holds. */
    public static final class Job {
        final String id;
        final Path dir;
        final String key;
        final List<StoredFile> files = new ArrayList<>();

        /** Checkpoints with a {@code _metadata}, by id. */
        final NavigableMap<Long, StoredFile> metadata = new TreeMap<>();

        final List<StoredFile> markers = new ArrayList<>();

        /** The checkpoints whose references are live (newest first). */
        final List<Long> retained = new ArrayList<>();

        long newestMillis = Long.MIN_VALUE;

        Job(String id, Path dir) {
            this.id = id;
            this.dir = dir;
            this.key = Locations.key(dir);
        }

        public String id() {
            return id;
        }

        public Path dir() {
            return dir;
        }

        public long newestMillis() {
            return newestMillis;
        }

        String describe(long checkpointId) {
            return "job " + id + " chk-" + checkpointId;
        }
    }

    /** Who keeps a file alive. */
    record Holder(String jobKey, String description) {}

    private final Map<String, Job> jobs = new LinkedHashMap<>();
    private final Map<String, List<Holder>> live = new LinkedHashMap<>();
    private final Map<String, String> protectedCheckpoints = new LinkedHashMap<>();
    private final List<String> errors = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();

    private CheckpointIndex() {}

    /**
     * Lists every root and reads the retained checkpoints of every job directory in it.
     *
     * @param roots checkpoint roots ({@code <root>/<job-id>/chk-N}); the first is the one being
     *     swept
     * @param keptCheckpoints how many of a job's newest checkpoints with a {@code _metadata} are
     *     retained (by job directory key); their references are live
     * @param graceMillis a restoring job's own single checkpoint counts only once it is this old
     */
    public static CheckpointIndex build(
            CheckpointStore store,
            List<Path> roots,
            ToIntFunction<String> keptCheckpoints,
            long graceMillis,
            long nowMillis,
            MetadataReader reader)
            throws IOException {
        SupportsListing listing =
                store.capability(SupportsListing.class)
                        .orElseThrow(
                                () ->
                                        new IllegalArgumentException(
                                                "store " + store.name() + " cannot list files"));
        CheckpointIndex index = new CheckpointIndex();
        for (Path root : roots) {
            SweepPlanner.checkNoDotDot(root);
            String rootKey = Locations.key(root);
            for (StoredFile f : listing.listFiles(root)) {
                String k = Locations.key(f.path());
                if (!k.startsWith(rootKey + "/")) {
                    continue;
                }
                String[] rel = Locations.relative(k, rootKey);
                if (rel.length < 2 || !CheckpointLayout.isJobId(rel[0])) {
                    continue;
                }
                Job job =
                        index.jobs.computeIfAbsent(
                                Locations.key(new Path(root, rel[0])),
                                x -> new Job(rel[0], new Path(root, rel[0])));
                job.files.add(f);
                job.newestMillis = Math.max(job.newestMillis, f.modificationTimeMillis());
                long id = CheckpointLayout.checkpointId(rel[1]);
                if (id >= 0 && rel.length == 3 && CheckpointLayout.METADATA.equals(rel[2])) {
                    job.metadata.put(id, f);
                } else if (rel.length == 2 && rel[1].equals(CheckpointLayout.RESTORE_MARKER)) {
                    job.markers.add(f);
                }
            }
        }
        for (Job job : index.jobs.values()) {
            int kept = Math.max(1, keptCheckpoints.applyAsInt(job.key));
            for (Long id : job.metadata.descendingKeySet()) {
                if (job.retained.size() >= kept) {
                    break;
                }
                job.retained.add(id);
            }
            for (long id : job.retained) {
                index.addReferences(
                        reader,
                        new Path(job.dir, "chk-" + id),
                        job.metadata.get(id),
                        new Holder(job.key, job.describe(id)));
            }
        }
        for (Job job : index.jobs.values()) {
            index.readMarkers(store, job, graceMillis, nowMillis, reader);
        }
        return index;
    }

    private void addReferences(
            MetadataReader reader, Path checkpointDir, StoredFile metadata, Holder holder) {
        try {
            for (String ref : reader.references(checkpointDir, metadata)) {
                live.computeIfAbsent(ref, x -> new ArrayList<>(1)).add(holder);
            }
        } catch (UnreadableMetadataException e) {
            errors.add(e.getMessage() + "; its references are unknown, so nothing is deleted");
        }
    }

    /**
     * A job restored from a checkpoint needs it until it has a checkpoint of its own that Flink has
     * surely committed: two of its own, or one older than the grace period (a {@code _metadata} can
     * exist for a checkpoint whose commit the JobManager never made; Flink then restores the
     * restored checkpoint again).
     */
    private void readMarkers(
            CheckpointStore store,
            Job job,
            long graceMillis,
            long nowMillis,
            MetadataReader reader) {
        if (job.markers.isEmpty()) {
            return;
        }
        boolean ownCheckpoint =
                job.metadata.size() >= 2
                        || (job.metadata.size() == 1
                                && nowMillis
                                                - job.metadata
                                                        .firstEntry()
                                                        .getValue()
                                                        .modificationTimeMillis()
                                        >= graceMillis);
        if (ownCheckpoint) {
            return;
        }
        for (StoredFile marker : job.markers) {
            String pointer;
            try {
                pointer = RestoreMarker.read(marker.path());
            } catch (IOException e) {
                errors.add(
                        "Cannot read restore marker "
                                + marker.path()
                                + " ("
                                + e
                                + "): the checkpoint job "
                                + job.id
                                + " was restored from is unknown, so nothing is deleted");
                continue;
            }
            Path checkpointDir = RestoreMarker.checkpointDirectory(pointer);
            String dirKey = Locations.key(checkpointDir);
            String reason =
                    "job " + job.id + " was restored from it and has no checkpoint of its own yet";
            protectedCheckpoints.put(dirKey, reason);
            Holder holder =
                    new Holder(job.key, reason.replace("it and", checkpointDir.getName() + " and"));
            StoredFile metadata = findMetadata(dirKey);
            if (metadata != null) {
                addReferences(reader, checkpointDir, metadata, holder);
            } else if (exists(new Path(checkpointDir, CheckpointLayout.METADATA))) {
                // Outside the scanned roots (restored from another root): read it all the same.
                addReferences(reader, checkpointDir, null, holder);
            }
        }
    }

    private StoredFile findMetadata(String checkpointDirKey) {
        for (Job j : jobs.values()) {
            if (Locations.isUnder(checkpointDirKey, j.key)) {
                String[] rel = Locations.relative(checkpointDirKey, j.key);
                long id = CheckpointLayout.checkpointId(rel[0]);
                if (rel.length == 1 && id >= 0) {
                    return j.metadata.get(id);
                }
            }
        }
        return null;
    }

    private static boolean exists(Path p) {
        try {
            FileSystem fs = Locations.fileSystem(p);
            return fs.exists(Locations.onFileSystem(p, fs));
        } catch (IOException | RuntimeException e) {
            return true; // unknown: read it and let the reader report what is wrong
        }
    }

    public Map<String, Job> jobs() {
        return Collections.unmodifiableMap(jobs);
    }

    public Job job(Path dir) {
        return jobs.get(Locations.key(dir));
    }

    /** Holders of a file (by its {@link Locations#key}), empty when none. */
    List<Holder> holders(String key) {
        return live.getOrDefault(key, List.of());
    }

    /**
     * Why a checkpoint directory must stay although no retained {@code _metadata} references it.
     */
    String protectedReason(String checkpointDirKey) {
        return protectedCheckpoints.get(checkpointDirKey);
    }

    /** The first holder from another job of any file under {@code jobKey}, or null. */
    String foreignHolderUnder(String jobKey) {
        for (Map.Entry<String, String> p : protectedCheckpoints.entrySet()) {
            if (Locations.isUnder(p.getKey(), jobKey)) {
                return p.getValue();
            }
        }
        for (Map.Entry<String, List<Holder>> e : live.entrySet()) {
            if (Locations.isUnder(e.getKey(), jobKey)) {
                for (Holder h : e.getValue()) {
                    if (!h.jobKey().equals(jobKey)) {
                        return h.description();
                    }
                }
            }
        }
        return null;
    }

    /** Metadata that could not be read: while there is any, nothing may be deleted. */
    public List<String> errors() {
        return errors;
    }

    List<String> notes() {
        return notes;
    }

    /** Reads references of a {@code _metadata}, possibly from a cache. */
    public interface MetadataReader {
        /**
         * @param metadata the listing entry of the {@code _metadata} (size and time key a cache),
         *     or null when it was not listed
         */
        Set<String> references(Path checkpointDir, StoredFile metadata)
                throws UnreadableMetadataException;

        /** Reads every time. */
        static MetadataReader uncached(ClassLoader classLoader) {
            return (dir, metadata) -> MetadataReferences.read(dir, classLoader);
        }
    }
}
