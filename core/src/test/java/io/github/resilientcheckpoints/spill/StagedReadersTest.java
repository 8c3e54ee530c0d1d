package io.github.resilientcheckpoints.spill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class StagedReadersTest {

    private final AtomicInteger releases = new AtomicInteger();
    private final StagedReaders readers = new StagedReaders(releases::incrementAndGet);

    private static InputStream bytes() {
        return new ByteArrayInputStream(new byte[] {1, 2, 3});
    }

    @Test
    void withoutReadersTheOwnerReleasesWhenItFinishes() throws IOException {
        try (InputStream in = readers.open(StagedReadersTest::bytes)) {
            assertThat(in.readAllBytes()).containsExactly(1, 2, 3);
        }
        assertThat(readers.finish()).isTrue();
        assertThat(releases).hasValue(0); // the owner's to run
        assertThat(readers.finish()).as("again: still nothing open").isTrue();
    }

    @Test
    void theLastReaderToCloseReleasesAfterTheOwnerFinished() throws IOException {
        InputStream a = readers.open(StagedReadersTest::bytes);
        InputStream b = readers.open(StagedReadersTest::bytes);
        assertThat(readers.finish()).isFalse();
        assertThat(readers.openReaders()).isEqualTo(2);
        a.close();
        a.close(); // a second close counts nothing
        assertThat(releases).hasValue(0);
        b.close();
        assertThat(releases).hasValue(1);
        assertThat(readers.finish()).isTrue();
        assertThat(releases).hasValue(1);
    }

    @Test
    void aLateReaderCanOpenWhileOthersStillReadButNotOnceAllIsReleased() throws IOException {
        InputStream a = readers.open(StagedReadersTest::bytes);
        readers.finish();
        InputStream late = readers.open(StagedReadersTest::bytes); // e.g. an SDK-level resend
        a.close();
        late.close();
        assertThat(releases).hasValue(1);
        assertThatThrownBy(() -> readers.open(StagedReadersTest::bytes))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("already discarded");
    }

    @Test
    void aFailedOpenHoldsNothing() throws IOException {
        assertThatThrownBy(
                        () ->
                                readers.open(
                                        () -> {
                                            throw new IOException("disk gone");
                                        }))
                .hasMessage("disk gone");
        assertThat(readers.openReaders()).isZero();
        assertThat(readers.finish()).isTrue();
    }

    @Test
    void aReaderNobodyClosesIsCountedOutOnceUnreachable() throws Exception {
        openAndDrop();
        assertThat(readers.finish()).isFalse();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (releases.get() == 0 && System.nanoTime() < end) {
            System.gc();
            Thread.sleep(20);
        }
        assertThat(releases).as("released after the leaked reader was collected").hasValue(1);
    }

    private void openAndDrop() throws IOException {
        InputStream leaked = readers.open(StagedReadersTest::bytes);
        assertThat(leaked.read()).isEqualTo(1);
    }
}
