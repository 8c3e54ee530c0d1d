package io.github.resilientcheckpoints.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.resilientcheckpoints.cleanup.CheckpointIndex;
import io.github.resilientcheckpoints.cleanup.SweepPlan;
import io.github.resilientcheckpoints.cleanup.SweepPlanner;
import io.github.resilientcheckpoints.testing.EntropyTestFileSystem;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FaultInjectingStoreTest {

    @TempDir java.nio.file.Path tmp;

    @Test
    void wrapperExposesEveryCapabilityOfTheWrappedStore() {
        CapableStore capable = new CapableStore();
        CheckpointStore wrapped = new FaultInjectingStore(capable, 0.1, 0.1);

        assertThat(wrapped.capability(SupportsPartUploads.class)).isPresent();
        assertThat(wrapped.capability(SupportsListing.class)).containsSame(capable);
        assertThat(wrapped.capability(SupportsBatchDelete.class)).containsSame(capable);
        assertThat(wrapped.capability(SupportsPendingUploads.class)).containsSame(capable);
        assertThat(wrapped.capability(SupportsThrottleSignals.class)).containsSame(capable);
    }

    @Test
    void wrapperInventsNoCapability() {
        CheckpointStore wrapped = new FaultInjectingStore(new FlinkFileSystemStore(), 0.1, 0.1);

        assertThat(wrapped.capability(SupportsListing.class)).isPresent();
        assertThat(wrapped.capability(SupportsBatchDelete.class)).isPresent();
        assertThat(wrapped.capability(SupportsPartUploads.class)).isEmpty();
        assertThat(wrapped.capability(SupportsPendingUploads.class)).isEmpty();
    }

    @Test
    void partUploadsThroughTheWrapperReachTheStoreOrFailAsInjected() throws IOException {
        CapableStore capable = new CapableStore();
        SupportsPartUploads always =
                new FaultInjectingStore(capable, 0.0, 0.0)
                        .capability(SupportsPartUploads.class)
                        .orElseThrow();
        assertThat(always.partSize()).isEqualTo(capable.partSize());
        always.startPartUpload(new Path("file:///x"));
        assertThat(capable.partUploadsStarted).isEqualTo(1);

        FaultInjectingStore faulty = new FaultInjectingStore(capable, 0.89, 0.0);
        SupportsPartUploads parts = faulty.capability(SupportsPartUploads.class).orElseThrow();
        int failed = 0;
        for (int i = 0; i < 200; i++) {
            try {
                parts.startPartUpload(new Path("file:///x" + i));
            } catch (FaultInjectingStore.InjectedFaultException e) {
                assertThat(faulty.classify(e)).isEqualTo(FailureClass.TRANSIENT);
                failed++;
            }
        }
        assertThat(failed).as("the drill also reaches part uploads").isPositive();
        assertThat(faulty.injectedFaults()).isEqualTo(failed);
    }

    @Test
    void spillAdoptionsThroughTheWrapperReachTheStoreOrFailAsInjected() throws IOException {
        Path directory = new Path(tmp.toUri());
        SupportsSpillAdoption always =
                new FaultInjectingStore(new FlinkFileSystemStore(), 0.0, 0.0)
                        .capability(SupportsSpillAdoption.class)
                        .orElseThrow();
        assertThat(always.adoptionDirectory(tmp, directory)).isEqualTo(tmp);
        java.nio.file.Path inPlace = tmp.resolve("in-place");
        try (FileOutputStream out = new FileOutputStream(inPlace.toFile())) {
            out.write("state".getBytes(StandardCharsets.UTF_8));
            assertThat(always.adopt(inPlace, out.getFD(), new Path(directory, "in-place")))
                    .isEqualTo(new Path(directory, "in-place"));
        }
        assertThat(inPlace).hasContent("state");

        FaultInjectingStore faulty = new FaultInjectingStore(new FlinkFileSystemStore(), 0.89, 0);
        SupportsSpillAdoption adoption =
                faulty.capability(SupportsSpillAdoption.class).orElseThrow();
        int failed = 0;
        for (int i = 0; i < 100; i++) {
            java.nio.file.Path file = tmp.resolve("x" + i);
            try (FileOutputStream out = new FileOutputStream(file.toFile())) {
                out.write("state".getBytes(StandardCharsets.UTF_8));
                adoption.adopt(file, out.getFD(), new Path(directory, "x" + i));
            } catch (FaultInjectingStore.InjectedFaultException e) {
                assertThat(file)
                        .as("a failed adoption leaves the file as it was")
                        .hasContent("state");
                failed++;
            }
        }
        assertThat(failed).as("the drill also reaches spill adoptions").isPositive();
        assertThat(faulty.injectedFaults()).isEqualTo(failed);
    }

    @Test
    void janitorCanPlanThroughTheWrapper() throws Exception {
        java.nio.file.Path job =
                Files.createDirectories(tmp.resolve("0123456789abcdef0123456789abcdef"));
        Files.createDirectories(job.resolve("chk-1"));
        Files.writeString(job.resolve("chk-1/state"), "x");
        CheckpointStore wrapped = new FaultInjectingStore(new FlinkFileSystemStore(), 0.3, 0.3);

        SweepPlanner planner = new SweepPlanner(wrapped);
        SweepPlanner.Rules rules = SweepPlanner.Rules.offline(0, System.currentTimeMillis(), 1);
        CheckpointIndex index =
                planner.index(
                        List.of(new Path(tmp.toUri())),
                        j -> 1,
                        rules,
                        CheckpointIndex.MetadataReader.uncached(getClass().getClassLoader()));
        SweepPlan plan = planner.planJob(index, index.job(new Path(job.toString())), rules);
        assertThat(plan.orphans()).hasSize(1);
    }

    @Test
    void wrapperKeepsTheWrappedStoresPathRewriting() throws Exception {
        // Entropy injection: under the drill, an abandoned attempt must still learn the path really
        // written.
        Path target =
                new Path(
                        EntropyTestFileSystem.SCHEME,
                        null,
                        tmp.resolve(EntropyTestFileSystem.MARKER)
                                .resolve("chk-1/state")
                                .toString());
        CheckpointStore plain = new FlinkFileSystemStore();
        CheckpointStore wrapped = new FaultInjectingStore(plain, 0.3, 0.3);
        Path resolved = wrapped.resolveTarget(target);
        assertThat(resolved.toString()).doesNotContain(EntropyTestFileSystem.MARKER);
        assertThat(plain.resolveTarget(target).toString())
                .doesNotContain(EntropyTestFileSystem.MARKER);
    }

    @Test
    void ratiosOutOfRangeAreRejected() {
        assertThatThrownBy(() -> new FaultInjectingStore(new FlinkFileSystemStore(), 0.6, 0.5))
                .isInstanceOf(IllegalArgumentException.class);
    }

    /** A store with every optional capability; only counts what it is asked. */
    private static final class CapableStore
            implements CheckpointStore,
                    SupportsPartUploads,
                    SupportsListing,
                    SupportsBatchDelete,
                    SupportsPendingUploads,
                    SupportsThrottleSignals {
        int partUploadsStarted;

        @Override
        public Path upload(UploadSource source, Path target) {
            return target;
        }

        @Override
        public void delete(Path path) {}

        @Override
        public FailureClass classify(Throwable failure) {
            return FailureClass.PERMANENT;
        }

        @Override
        public String name() {
            return "capable";
        }

        @Override
        public void close() {}

        @Override
        public long partSize() {
            return 5 << 20;
        }

        @Override
        public PartUpload startPartUpload(Path target) {
            partUploadsStarted++;
            return new PartUpload() {
                @Override
                public void submitPart(int partNumber, UploadSource bytes) {}

                @Override
                public Path complete(int lastPartNumber, UploadSource lastPart) {
                    return target;
                }

                @Override
                public void abort() {}
            };
        }

        @Override
        public List<StoredFile> listFiles(Path directory) {
            return new ArrayList<>();
        }

        @Override
        public List<Path> deleteAll(Collection<Path> paths) {
            return new ArrayList<>();
        }

        @Override
        public List<PendingUpload> listPendingUploads(Path directory) {
            return new ArrayList<>();
        }

        @Override
        public void abortPendingUpload(PendingUpload upload) {}

        @Override
        public void onThrottleSignal(Runnable listener) {}
    }
}
