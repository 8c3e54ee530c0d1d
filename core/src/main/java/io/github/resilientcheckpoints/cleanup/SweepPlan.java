package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.store.StoredFile;
import io.github.resilientcheckpoints.store.SupportsPendingUploads;
import java.util.ArrayList;
import java.util.List;

/** What a sweep found: files to delete and why, uploads to abort, and what it keeps. */
public final class SweepPlan {

    /** A file found to be an orphan. */
    public record Orphan(StoredFile file, String reason) {}

    final List<Orphan> orphans = new ArrayList<>();
    final List<SupportsPendingUploads.PendingUpload> pendingUploads = new ArrayList<>();
    long keptFiles;
    long keptBytes;
    long keptYoung;
    final List<String> errors = new ArrayList<>();
    final List<String> notes = new ArrayList<>();

    public List<Orphan> orphans() {
        return orphans;
    }

    public List<SupportsPendingUploads.PendingUpload> pendingUploads() {
        return pendingUploads;
    }

    public long orphanBytes() {
        long n = 0;
        for (Orphan o : orphans) {
            n += o.file().size();
        }
        return n;
    }

    public long keptFiles() {
        return keptFiles;
    }

    public long keptBytes() {
        return keptBytes;
    }

    /** Files that would be orphans but are younger than the grace period. */
    public long keptYoung() {
        return keptYoung;
    }

    /** Jobs whose sweep stopped (unreadable metadata, unsafe paths), with the reason. */
    public List<String> errors() {
        return errors;
    }

    /** What was kept for another job's sake, and jobs not swept whole: one line each. */
    public List<String> notes() {
        return notes;
    }

    void merge(SweepPlan other) {
        notes.addAll(other.notes);
        orphans.addAll(other.orphans);
        pendingUploads.addAll(other.pendingUploads);
        keptFiles += other.keptFiles;
        keptBytes += other.keptBytes;
        keptYoung += other.keptYoung;
        errors.addAll(other.errors);
    }

    public String summary() {
        return String.format(
                "%d orphaned files (%d bytes), %d pending uploads; kept %d files (%d bytes), of"
                        + " which %d only because they are younger than the grace period; %d jobs not swept",
                orphans.size(),
                orphanBytes(),
                pendingUploads.size(),
                keptFiles,
                keptBytes,
                keptYoung,
                errors.size());
    }
}
