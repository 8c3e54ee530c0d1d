package io.github.resilientcheckpoints.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.util.List;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;

class CheckpointStoresTest {

    @Test
    void providerFoundByServiceLoaderServesItsScheme() throws Exception {
        CheckpointStore store =
                CheckpointStores.forRoot(URI.create("rcs-test://bucket/ckpt"), new Configuration());
        assertThat(store.name()).isEqualTo("test-provider-high");
    }

    @Test
    void schemesWithoutProviderGetTheGenericStore() throws Exception {
        assertThat(CheckpointStores.forRoot(URI.create("file:///tmp/ckpt"), new Configuration()))
                .isInstanceOf(FlinkFileSystemStore.class);
        assertThat(CheckpointStores.forRoot(URI.create("/tmp/ckpt"), new Configuration()))
                .isInstanceOf(FlinkFileSystemStore.class);
    }

    @Test
    void spellingsComeFromTheProviderThatListsThem() throws Exception {
        assertThat(CheckpointStores.spellingsOf("rcs-alias-b"))
                .containsExactly("rcs-alias", "rcs-alias-b");
        assertThat(CheckpointStores.spellingsOf("rcs-alias"))
                .containsExactly("rcs-alias", "rcs-alias-b");
        assertThat(CheckpointStores.spellingsOf("rcs-test")).containsExactly("rcs-test");
        assertThat(CheckpointStores.spellingsOf("file")).containsExactly("file");
        assertThat(
                        CheckpointStores.forRoot(
                                        URI.create("rcs-alias-b://bucket/ckpt"),
                                        new Configuration())
                                .name())
                .isEqualTo("test-provider-alias");
    }

    /** Registered in src/test/resources/META-INF/services; serves the schemes it lists. */
    public static class AliasProvider implements CheckpointStoreProvider {
        @Override
        public List<String> schemes() {
            return List.of("rcs-alias", "rcs-alias-b");
        }

        @Override
        public CheckpointStore create(URI checkpointRoot, ReadableConfig config) {
            return new Named("test-provider-alias");
        }
    }

    /**
     * Registered in src/test/resources/META-INF/services; two providers, the higher priority wins.
     */
    public static class LowProvider implements CheckpointStoreProvider {
        @Override
        public boolean supportsScheme(String scheme) {
            return "rcs-test".equals(scheme);
        }

        @Override
        public CheckpointStore create(URI checkpointRoot, ReadableConfig config) {
            return new Named("test-provider-low");
        }
    }

    public static class HighProvider extends LowProvider {
        @Override
        public int priority() {
            return 10;
        }

        @Override
        public CheckpointStore create(URI checkpointRoot, ReadableConfig config) {
            return new Named("test-provider-high");
        }
    }

    private static final class Named implements CheckpointStore {
        private final String name;

        Named(String name) {
            this.name = name;
        }

        @Override
        public Path upload(UploadSource source, Path target) {
            throw new IllegalStateException("not used");
        }

        @Override
        public void delete(Path path) {}

        @Override
        public FailureClass classify(Throwable failure) {
            return FailureClass.TRANSIENT;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public void close() {}
    }
}
