package io.flatfare.gateway.usage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The journal on its own: group commit, recovery, torn records, cursor and segment deletion, the lock. */
class UsageJournalTest {

    private static final long SEGMENT_BYTES = 16 << 20;

    @TempDir
    Path dir;

    @Test
    void recordsAreReadableOnceFlushedAndSurviveAReopen() throws Exception {
        try (UsageJournal journal = UsageJournal.open(dir, SEGMENT_BYTES)) {
            append(journal, "a", "b", "c");
            assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
            try (UsageJournal.Reader reader = journal.reader(0)) {
                assertThat(values(reader.read(10))).containsExactly("a", "b", "c");
                assertThat(reader.nextSeq()).isEqualTo(3);
            }
        }
        try (UsageJournal journal = UsageJournal.open(dir, SEGMENT_BYTES)) {
            assertThat(journal.recoveredBacklog()).isEqualTo(3);
            append(journal, "d");
            assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
            try (UsageJournal.Reader reader = journal.reader(journal.recoveredCursor())) {
                List<JournalRecord> records = reader.read(10);
                assertThat(values(records)).containsExactly("a", "b", "c", "d");
                assertThat(records).extracting(JournalRecord::seq).containsExactly(0L, 1L, 2L, 3L);
                assertThat(records.getFirst().key()).isEqualTo("acc_a");
                assertThat(records.getFirst().headers()).containsExactly(Map.entry("ce_id", "a"));
            }
        }
    }

    @Test
    void aTornLastRecordIsSkippedAndWritingGoesOn() throws Exception {
        try (UsageJournal journal = UsageJournal.open(dir, SEGMENT_BYTES)) {
            append(journal, "a", "b", "c");
            assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
        }
        Path segment = onlySegment();
        // A crash mid-write: the first part of a fourth frame made it to disk, the rest did not.
        byte[] frame = new JournalRecord(3, 0, "acc_d", Map.of(), "d".getBytes(StandardCharsets.UTF_8))
                .encode()
                .array();
        Files.write(segment, Arrays.copyOf(frame, frame.length - 3), StandardOpenOption.APPEND);

        try (UsageJournal journal = UsageJournal.open(dir, SEGMENT_BYTES)) {
            assertThat(journal.recoveredBacklog()).isEqualTo(3);
            append(journal, "e");
            assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
            try (UsageJournal.Reader reader = journal.reader(0)) {
                assertThat(values(reader.read(10))).containsExactly("a", "b", "c", "e");
            }
        }
    }

    @Test
    void aRecordWithABadChecksumEndsWhatIsReadOfItsSegment() throws Exception {
        try (UsageJournal journal = UsageJournal.open(dir, SEGMENT_BYTES)) {
            append(journal, "a", "b");
            assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
        }
        Path segment = onlySegment();
        byte[] bytes = Files.readAllBytes(segment);
        bytes[bytes.length - 1] ^= 0x5a; // the last byte of "b"
        Files.write(segment, bytes);

        try (UsageJournal journal = UsageJournal.open(dir, SEGMENT_BYTES)) {
            assertThat(journal.recoveredBacklog()).isEqualTo(1);
            try (UsageJournal.Reader reader = journal.reader(0)) {
                assertThat(values(reader.read(10))).containsExactly("a");
            }
        }
    }

    @Test
    void theCursorIsDurableAndAcknowledgedSegmentsAreDeleted() throws Exception {
        // Tiny segments: every batch begins a new one.
        try (UsageJournal journal = UsageJournal.open(dir, 1)) {
            for (String value : List.of("a", "b", "c", "d")) {
                append(journal, value);
                assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
            }
            assertThat(segments()).hasSize(4);
            journal.acknowledge(3);
            assertThat(segments()).hasSize(1);
            assertThat(Files.readString(dir.resolve(UsageJournal.CURSOR_FILE)).trim())
                    .isEqualTo("3");
        }
        try (UsageJournal journal = UsageJournal.open(dir, 1)) {
            assertThat(journal.recoveredCursor()).isEqualTo(3);
            assertThat(journal.recoveredBacklog()).isEqualTo(1);
            try (UsageJournal.Reader reader = journal.reader(journal.recoveredCursor())) {
                assertThat(values(reader.read(10))).containsExactly("d");
            }
        }
    }

    @Test
    void heldBytesAreWhatIsQueuedAndWhatIsOnDiskAndShrinkAsSegmentsAreDeleted() throws Exception {
        try (UsageJournal journal = UsageJournal.open(dir, 1)) {
            assertThat(journal.heldBytes()).isZero();
            UsageJournal.Entry first = entry("first");
            assertThat(journal.append(first)).isTrue();
            // Counted as soon as it is handed over, before the writer has it on disk.
            assertThat(journal.heldBytes()).isGreaterThanOrEqualTo(first.frameBytes());
            assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
            assertThat(journal.heldBytes()).isEqualTo(onDisk()).isEqualTo(first.frameBytes());
            for (String value : List.of("b", "c", "d")) {
                append(journal, value);
                assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
            }
            assertThat(segments()).hasSize(4);
            assertThat(journal.heldBytes()).isEqualTo(onDisk());

            journal.acknowledge(3);
            assertThat(segments()).hasSize(1);
            assertThat(journal.heldBytes())
                    .isEqualTo(onDisk())
                    .isEqualTo(entry("d").frameBytes());
        }
        // A torn tail counts while its segment is on disk.
        Files.write(onlySegment(), new byte[] {1, 2, 3}, StandardOpenOption.APPEND);
        try (UsageJournal journal = UsageJournal.open(dir, 1)) {
            assertThat(journal.heldBytes())
                    .isEqualTo(onDisk())
                    .isEqualTo(entry("d").frameBytes() + 3);
            append(journal, "e");
            assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
            journal.acknowledge(5);
            assertThat(journal.heldBytes())
                    .isEqualTo(onDisk())
                    .isEqualTo(entry("e").frameBytes());
        }
    }

    @Test
    void aBatchLargerThanASegmentIsSplitSoThatNoSegmentOutgrowsItsSize() throws Exception {
        long oneRecord = entry("a").frameBytes();
        Path moved = dir.resolveSibling(dir.getFileName() + "-moved");
        try (UsageJournal journal = UsageJournal.open(dir, oneRecord)) {
            append(journal, "a");
            assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
            // The next record needs a new segment, which cannot be created: everything appended meanwhile waits.
            Files.move(dir, moved);
            Files.writeString(dir, "not a directory");
            append(journal, "b");
            await().atMost(Duration.ofSeconds(10)).until(journal::failing);
            List<String> waiting = List.of("c", "d", "e", "f", "g", "h", "i", "j");
            append(journal, waiting.toArray(String[]::new));
            Files.delete(dir);
            Files.move(moved, dir);
            // Written as one batch once the directory is back: one segment per record, as the size asks.
            assertThat(journal.flush(Duration.ofSeconds(10))).isTrue();
            assertThat(journal.failing()).isFalse();
            assertThat(segments())
                    .hasSize(10)
                    .allSatisfy(segment -> assertThat(Files.size(segment)).isEqualTo(oneRecord));
            try (UsageJournal.Reader reader = journal.reader(0)) {
                assertThat(values(reader.read(20))).containsExactly("a", "b", "c", "d", "e", "f", "g", "h", "i", "j");
            }
            journal.acknowledge(10);
            assertThat(journal.heldBytes()).isEqualTo(onDisk()).isEqualTo(oneRecord);
        }
    }

    @Test
    void aReaderFollowsSegmentsAsTheyRoll() throws Exception {
        try (UsageJournal journal = UsageJournal.open(dir, 1);
                UsageJournal.Reader reader = journal.reader(0)) {
            List<String> read = new ArrayList<>();
            for (String value : List.of("a", "b", "c")) {
                append(journal, value);
                assertThat(journal.flush(Duration.ofSeconds(5))).isTrue();
                read.addAll(values(reader.read(10)));
            }
            assertThat(read).containsExactly("a", "b", "c");
        }
    }

    @Test
    void oneDirectoryServesOneJournalAtATime() throws Exception {
        try (UsageJournal journal = UsageJournal.open(dir, SEGMENT_BYTES)) {
            assertThatThrownBy(() -> UsageJournal.open(dir, SEGMENT_BYTES))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("in use");
        }
        UsageJournal.open(dir, SEGMENT_BYTES).close();
    }

    @Test
    void appendsAfterStoppingAreRefused() throws Exception {
        try (UsageJournal journal = UsageJournal.open(dir, SEGMENT_BYTES)) {
            append(journal, "a");
            journal.stopWriting(Duration.ofSeconds(5));
            assertThat(journal.append(entry("b"))).isFalse();
            assertThat(journal.writable()).isFalse();
        }
        try (UsageJournal journal = UsageJournal.open(dir, SEGMENT_BYTES)) {
            assertThat(journal.recoveredBacklog()).isEqualTo(1);
        }
    }

    private static void append(UsageJournal journal, String... values) {
        for (String value : values) {
            assertThat(journal.append(entry(value))).isTrue();
        }
    }

    private static UsageJournal.Entry entry(String value) {
        return new UsageJournal.Entry(
                System.currentTimeMillis(),
                "acc_" + value,
                Map.of("ce_id", value),
                value.getBytes(StandardCharsets.UTF_8));
    }

    private static List<String> values(List<JournalRecord> records) {
        return records.stream()
                .map(r -> new String(r.value(), StandardCharsets.UTF_8))
                .toList();
    }

    private Path onlySegment() throws IOException {
        List<Path> segments = segments();
        assertThat(segments).hasSize(1);
        return segments.getFirst();
    }

    /** Bytes of the segment files in the directory. */
    private long onDisk() throws IOException {
        long bytes = 0;
        for (Path segment : segments()) {
            bytes += Files.size(segment);
        }
        return bytes;
    }

    private List<Path> segments() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().startsWith("segment-"))
                    .filter(p -> {
                        try {
                            return Files.size(p) > 0;
                        } catch (IOException e) {
                            throw new IllegalStateException(e);
                        }
                    })
                    .sorted()
                    .toList();
        }
    }
}
