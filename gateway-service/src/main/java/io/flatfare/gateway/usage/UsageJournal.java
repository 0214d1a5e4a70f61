package io.flatfare.gateway.usage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import org.jboss.logging.Logger;

/**
 * The append-only disk journal of usage records: segment files of checksummed frames ({@link JournalRecord}), a
 * durable cursor (every record below it is acknowledged by Kafka) and a lock file, all in one directory.
 *
 * <p>One writer thread takes what {@link #append} queued, writes it as one batch and fsyncs it (group commit); a
 * record becomes readable by {@link Reader}s only once its batch is on disk. So the window in which an accepted
 * record exists only in memory is the time to the end of the next fsync: usually a few milliseconds, longer while
 * the disk is slow or failing. A graceful {@link #close} writes that window out first.
 *
 * <p>Each start begins a new segment, so a segment is never appended to after a crash: a torn frame at the end of
 * an old segment (the process died mid-write) is found by length and checksum on recovery and skipped, with the
 * rest of that segment. Segments are deleted once every record in them is below the cursor.
 */
final class UsageJournal implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(UsageJournal.class);

    static final String CURSOR_FILE = "cursor";
    static final String LOCK_FILE = "journal.lock";
    private static final String SEGMENT_PREFIX = "segment-";
    private static final String SEGMENT_SUFFIX = ".log";
    private static final int MAX_BATCH_RECORDS = 4096;
    private static final long IDLE_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    private static final long WRITE_RETRY_NANOS = TimeUnit.SECONDS.toNanos(1);

    /**
     * A record handed over and not written yet; the writer gives it its sequence number. {@code frameBytes} is what
     * its frame will take on disk, counted in {@link #heldBytes()} while it waits in memory.
     */
    record Entry(long appendedAtMillis, String key, Map<String, String> headers, byte[] value, int frameBytes) {

        /** @throws IllegalArgumentException when the record cannot be journaled (see {@link JournalRecord#frameBytes}) */
        Entry(long appendedAtMillis, String key, Map<String, String> headers, byte[] value) {
            this(appendedAtMillis, key, headers, value, JournalRecord.frameBytes(key, headers, value));
        }
    }

    /** A segment file; its records have sequence numbers from {@code firstSeq} to below the next segment's. */
    static final class Segment {
        final long firstSeq;
        final Path path;
        // Bytes of the file past durableSize: a torn tail found on recovery, kept until the segment is deleted.
        volatile long tornBytes;
        // Readers may read up to durableSize; once sealed is set, durableSize is final.
        volatile long durableSize;
        volatile boolean sealed;

        Segment(long firstSeq, Path path) {
            this.firstSeq = firstSeq;
            this.path = path;
        }
    }

    private final Path directory;
    private final long segmentBytes;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final ConcurrentSkipListMap<Long, Segment> segments = new ConcurrentSkipListMap<>();
    private final ConcurrentLinkedQueue<Entry> queue = new ConcurrentLinkedQueue<>();
    private final AtomicLong handedOver = new AtomicLong();
    private final AtomicLong heldBytes = new AtomicLong();
    private final Object written = new Object();
    private final Thread writer;
    private final long recoveredCursor;
    private final long recoveredBacklog;

    private volatile Runnable onDurable = () -> {};
    private volatile boolean closing;
    private volatile long closeDeadlineNanos;
    private volatile String writeError;
    private volatile long failedBatchOldestMillis = -1;
    private long writtenCount; // guarded by written

    // Writer thread only.
    private Segment active;
    private FileChannel activeChannel;
    private long nextSeq;

    // Relay thread only.
    private long persistedCursor;

    private UsageJournal(Path directory, long segmentBytes) throws IOException {
        this.directory = directory;
        this.segmentBytes = segmentBytes;
        Files.createDirectories(directory);
        lockChannel =
                FileChannel.open(directory.resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        lock = tryLock(lockChannel, directory);
        long cursor = readCursor();
        long maxSeq = -1;
        long backlog = 0;
        for (Segment segment : listSegments()) {
            Scan scan = scan(segment.path, cursor);
            if (scan.records == 0) {
                if (scan.fileSize > 0) {
                    LOG.warnf("Skipping %d bytes of a torn record in %s", scan.fileSize, segment.path);
                }
                Files.delete(segment.path);
                continue;
            }
            if (scan.validEnd < scan.fileSize) {
                LOG.warnf(
                        "Skipping %d bytes of a torn or damaged record at byte %d of %s; the records before it are"
                                + " kept",
                        scan.fileSize - scan.validEnd, scan.validEnd, segment.path);
            }
            segment.durableSize = scan.validEnd;
            segment.tornBytes = scan.fileSize - scan.validEnd;
            segment.sealed = true;
            heldBytes.addAndGet(scan.fileSize);
            segments.put(segment.firstSeq, segment);
            maxSeq = Math.max(maxSeq, scan.maxSeq);
            backlog += scan.unacknowledged;
        }
        recoveredCursor = cursor;
        recoveredBacklog = backlog;
        persistedCursor = cursor;
        nextSeq = Math.max(cursor, maxSeq + 1);
        openActive(nextSeq);
        deleteAcknowledged(cursor);
        writer = Thread.ofPlatform().name("usage-journal-writer").daemon().unstarted(this::writeLoop);
        writer.start();
    }

    /**
     * Opens (creating it if needed) and recovers the journal in {@code directory}, and starts its writer.
     *
     * @param segmentBytes a segment is closed and a new one begun once it would grow past this size
     * @throws IOException when the directory cannot be used
     * @throws IllegalStateException when another recorder holds the directory
     */
    static UsageJournal open(Path directory, long segmentBytes) throws IOException {
        return new UsageJournal(directory, segmentBytes);
    }

    Path directory() {
        return directory;
    }

    /** The cursor found on start: every record below it had been acknowledged. */
    long recoveredCursor() {
        return recoveredCursor;
    }

    /** Records found on start at or above the cursor: not acknowledged, to be sent again. */
    long recoveredBacklog() {
        return recoveredBacklog;
    }

    /** Runs on the writer thread after every batch that became durable. */
    void onDurable(Runnable listener) {
        this.onDurable = listener;
    }

    /** Queues a record for the next batch; never blocks. False once closing: the caller must keep the record. */
    boolean append(Entry entry) {
        if (closing) {
            return false;
        }
        heldBytes.addAndGet(entry.frameBytes());
        queue.add(entry);
        handedOver.incrementAndGet();
        LockSupport.unpark(writer);
        return true;
    }

    /** Waits until everything appended before the call is on disk; false when {@code timeout} passed first. */
    boolean flush(Duration timeout) throws InterruptedException {
        long target = handedOver.get();
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (written) {
            while (writtenCount < target) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(written, left);
            }
        }
        return true;
    }

    /** False while a write or fsync fails (the records wait in memory and are retried) or the directory is gone. */
    boolean writable() {
        return !failing() && !closing && Files.isDirectory(directory) && Files.isWritable(directory);
    }

    /** Whether the last attempt to write a batch failed (the records wait in memory and are retried); no I/O. */
    boolean failing() {
        return writeError != null;
    }

    /**
     * Bytes the journal holds: its segment files (acknowledged records stay on disk until their whole segment is
     * deleted, so up to one segment of them) plus about what records waiting to be written will take. No I/O.
     */
    long heldBytes() {
        return heldBytes.get();
    }

    /** Why the last write failed, while it keeps failing. */
    Optional<String> writeError() {
        return Optional.ofNullable(writeError);
    }

    /** When the oldest record still waiting to be written was appended. */
    Optional<Long> oldestUnwrittenMillis() {
        long failed = failedBatchOldestMillis;
        if (failed >= 0) {
            return Optional.of(failed);
        }
        Entry head = queue.peek();
        return head == null ? Optional.empty() : Optional.of(head.appendedAtMillis());
    }

    /** A reader of durable records from sequence number {@code fromSeq} on; for one thread. */
    Reader reader(long fromSeq) {
        return new Reader(fromSeq);
    }

    /**
     * Records that everything below {@code cursor} is acknowledged: persists the cursor (atomically, fsynced) and
     * deletes the segments wholly below it. Called by the relay thread only.
     */
    void acknowledge(long cursor) throws IOException {
        if (cursor > persistedCursor) {
            Path temporary = directory.resolve(CURSOR_FILE + ".tmp");
            try (FileChannel channel = FileChannel.open(
                    temporary,
                    StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer content = ByteBuffer.wrap((cursor + "\n").getBytes(StandardCharsets.US_ASCII));
                while (content.hasRemaining()) {
                    channel.write(content);
                }
                channel.force(true);
            }
            Files.move(
                    temporary,
                    directory.resolve(CURSOR_FILE),
                    StandardCopyOption.ATOMIC_MOVE,
                    StandardCopyOption.REPLACE_EXISTING);
            syncDirectory();
            persistedCursor = cursor;
        }
        deleteAcknowledged(cursor);
    }

    /**
     * Stops taking records and writes out what is queued, retrying a failing disk until {@code timeout}. Records
     * that could not be written are logged in full at ERROR, the last place they exist. Readers and
     * {@link #acknowledge} keep working until {@link #close()}.
     */
    void stopWriting(Duration timeout) {
        if (closing && !writer.isAlive()) {
            return;
        }
        closeDeadlineNanos = System.nanoTime() + timeout.toNanos();
        closing = true;
        LockSupport.unpark(writer);
        try {
            writer.join(Math.max(1, timeout.toMillis() + 1000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (writer.isAlive()) {
            LOG.error("The usage journal writer did not stop; records it still holds are lost");
            return;
        }
        closeActive();
        // An append that raced with closing landed after the writer's last drain.
        logUnwritten(drainAll(new ArrayList<>()));
    }

    /** Stops writing (see {@link #stopWriting}) and releases the directory for the next recorder. */
    @Override
    public void close() {
        stopWriting(Duration.ZERO);
        try {
            lock.release();
            lockChannel.close();
        } catch (IOException e) {
            LOG.warn("Could not release the usage journal lock", e);
        }
    }

    private void writeLoop() {
        List<Entry> batch = new ArrayList<>();
        while (true) {
            if (batch.isEmpty()) {
                drain(batch);
            }
            if (batch.isEmpty()) {
                if (closing) {
                    return;
                }
                LockSupport.parkNanos(this, IDLE_PARK_NANOS);
                continue;
            }
            try {
                write(batch);
                batch.clear();
                failedBatchOldestMillis = -1;
                if (writeError != null) {
                    LOG.info("The usage journal is writable again");
                    writeError = null;
                }
            } catch (IOException | RuntimeException e) {
                if (writeError == null) {
                    LOG.errorf(
                            e,
                            "Cannot write the usage journal in %s; %d record(s) wait in memory and are retried",
                            directory,
                            batch.size() + queue.size());
                }
                writeError = e.toString();
                if (!batch.isEmpty()) {
                    // Out of the queue while it is retried: still the oldest records not written.
                    failedBatchOldestMillis = batch.getFirst().appendedAtMillis();
                }
                abandonTornWrite();
                if (closing && System.nanoTime() - closeDeadlineNanos > 0) {
                    logUnwritten(drainAll(batch));
                    return;
                }
                LockSupport.parkNanos(this, WRITE_RETRY_NANOS);
            }
        }
    }

    private void drain(List<Entry> batch) {
        Entry entry;
        while (batch.size() < MAX_BATCH_RECORDS && (entry = queue.poll()) != null) {
            batch.add(entry);
        }
    }

    private List<Entry> drainAll(List<Entry> batch) {
        Entry entry;
        while ((entry = queue.poll()) != null) {
            batch.add(entry);
        }
        return batch;
    }

    /**
     * Writes the batch and makes it durable, in as many segments as it needs: a segment grows past
     * {@code segmentBytes} only by a single record larger than that, so that once Kafka has acknowledged everything
     * the journal holds at most one segment. Each segment's part is removed from {@code batch} once durable; on a
     * failure, what is left in {@code batch} is what remains to be written.
     */
    private void write(List<Entry> batch) throws IOException {
        while (!batch.isEmpty()) {
            if (active == null) {
                openActive(nextSeq);
            }
            List<ByteBuffer> frames = new ArrayList<>();
            long seq = nextSeq;
            long bytes = 0;
            int taken = 0;
            for (Entry entry : batch) {
                ByteBuffer frame;
                try {
                    frame = new JournalRecord(
                                    seq, entry.appendedAtMillis(), entry.key(), entry.headers(), entry.value())
                            .encode();
                } catch (IllegalArgumentException tooLarge) {
                    // Cannot happen for a real event; retrying would block every record behind it.
                    LOG.errorf(tooLarge, "Usage record cannot be journaled: %s", utf8(entry.value()));
                    taken++;
                    continue;
                }
                boolean segmentHasRecords = active.durableSize > 0 || !frames.isEmpty();
                if (segmentHasRecords && active.durableSize + bytes + frame.remaining() > segmentBytes) {
                    break;
                }
                frames.add(frame);
                bytes += frame.remaining();
                seq++;
                taken++;
            }
            if (frames.isEmpty() && taken == 0) {
                roll(nextSeq); // the active segment is full: the next record begins a new one
                continue;
            }
            long start = active.durableSize;
            long position = start;
            for (ByteBuffer frame : frames) {
                while (frame.hasRemaining()) {
                    position += activeChannel.write(frame, position);
                }
            }
            if (!frames.isEmpty()) {
                activeChannel.force(false);
            }
            active.durableSize = position;
            nextSeq = seq;
            List<Entry> done = batch.subList(0, taken);
            long queued = 0;
            for (Entry entry : done) {
                queued += entry.frameBytes();
            }
            done.clear();
            // Counted by their frame sizes while queued; now by what the file grew (the same, less any dropped).
            heldBytes.addAndGet(position - start - queued);
            synchronized (written) {
                writtenCount += taken;
                written.notifyAll();
            }
            if (!frames.isEmpty()) {
                onDurable.run();
            }
        }
    }

    private void openActive(long firstSeq) throws IOException {
        Path path = directory.resolve(segmentName(firstSeq));
        FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        try {
            syncDirectory();
        } catch (IOException e) {
            channel.close();
            Files.deleteIfExists(path);
            throw e;
        }
        Segment segment = new Segment(firstSeq, path);
        activeChannel = channel;
        active = segment;
        segments.put(firstSeq, segment);
    }

    private void roll(long firstSeq) throws IOException {
        Segment previous = active;
        FileChannel previousChannel = activeChannel;
        openActive(firstSeq);
        previous.sealed = true;
        closeQuietly(previousChannel);
    }

    /** After a failed write: cut the partial bytes, or if even that fails, leave the segment for a new one. */
    private void abandonTornWrite() {
        if (activeChannel == null) {
            return;
        }
        try {
            activeChannel.truncate(active.durableSize);
        } catch (IOException | RuntimeException e) {
            active.sealed = true;
            closeQuietly(activeChannel);
            activeChannel = null;
            active = null;
        }
    }

    private void closeActive() {
        if (activeChannel != null) {
            closeQuietly(activeChannel);
            activeChannel = null;
        }
    }

    private void deleteAcknowledged(long cursor) throws IOException {
        boolean deleted = false;
        for (Segment segment : segments.values()) {
            Map.Entry<Long, Segment> next = segments.higherEntry(segment.firstSeq);
            if (!segment.sealed || next == null || next.getKey() > cursor) {
                break;
            }
            Files.deleteIfExists(segment.path);
            segments.remove(segment.firstSeq);
            heldBytes.addAndGet(-(segment.durableSize + segment.tornBytes));
            deleted = true;
        }
        if (deleted) {
            syncDirectory();
        }
    }

    private long readCursor() {
        Path file = directory.resolve(CURSOR_FILE);
        try {
            return Long.parseLong(
                    Files.readString(file, StandardCharsets.US_ASCII).trim());
        } catch (NoSuchFileException first) {
            return 0;
        } catch (IOException | NumberFormatException e) {
            // Starting from 0 sends acknowledged records again (consumers de-duplicate) instead of losing any.
            LOG.warnf("Cannot read the usage journal cursor %s (%s); resending everything in the journal", file, e);
            return 0;
        }
    }

    private List<Segment> listSegments() throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            return files.map(path -> {
                        String name = path.getFileName().toString();
                        if (!name.startsWith(SEGMENT_PREFIX) || !name.endsWith(SEGMENT_SUFFIX)) {
                            return null;
                        }
                        try {
                            long firstSeq = Long.parseLong(
                                    name.substring(SEGMENT_PREFIX.length(), name.length() - SEGMENT_SUFFIX.length()));
                            return new Segment(firstSeq, path);
                        } catch (NumberFormatException e) {
                            return null;
                        }
                    })
                    .filter(segment -> segment != null)
                    .sorted((a, b) -> Long.compare(a.firstSeq, b.firstSeq))
                    .toList();
        }
    }

    private record Scan(long fileSize, long validEnd, long records, long unacknowledged, long maxSeq) {}

    private static Scan scan(Path path, long cursor) throws IOException {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            long position = 0;
            long records = 0;
            long unacknowledged = 0;
            long maxSeq = -1;
            Frame frame;
            while ((frame = readFrame(channel, position, size)) != null) {
                position = frame.end;
                records++;
                maxSeq = Math.max(maxSeq, frame.record.seq());
                if (frame.record.seq() >= cursor) {
                    unacknowledged++;
                }
            }
            return new Scan(size, position, records, unacknowledged, maxSeq);
        }
    }

    private record Frame(JournalRecord record, long end) {}

    /** The frame at {@code position}, or null when none ends by {@code limit} or it is damaged. */
    private static Frame readFrame(FileChannel channel, long position, long limit) throws IOException {
        if (limit - position < JournalRecord.FRAME_HEADER_BYTES) {
            return null;
        }
        ByteBuffer header = ByteBuffer.allocate(JournalRecord.FRAME_HEADER_BYTES);
        readFully(channel, header, position);
        int length = JournalRecord.bodyLength(header);
        long end = position + JournalRecord.FRAME_HEADER_BYTES + length;
        if (length < 0 || end > limit) {
            return null;
        }
        ByteBuffer body = ByteBuffer.allocate(length);
        readFully(channel, body, position + JournalRecord.FRAME_HEADER_BYTES);
        return JournalRecord.decode(header, body.flip())
                .map(record -> new Frame(record, end))
                .orElse(null);
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            int read = channel.read(buffer, at);
            if (read < 0) {
                throw new IOException("unexpected end of " + channel);
            }
            at += read;
        }
    }

    private void syncDirectory() throws IOException {
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    private static FileLock tryLock(FileChannel channel, Path directory) throws IOException {
        FileLock acquired;
        try {
            acquired = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            acquired = null;
        }
        if (acquired == null) {
            channel.close();
            throw new IllegalStateException("The usage journal " + directory
                    + " is in use by another recorder; each gateway process needs a directory of its own");
        }
        return acquired;
    }

    private static void logUnwritten(List<Entry> entries) {
        for (Entry entry : entries) {
            LOG.errorf("Usage record not journaled before shutdown: %s", utf8(entry.value()));
        }
    }

    private static String utf8(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static void closeQuietly(Closeable closeable) {
        try {
            closeable.close();
        } catch (IOException e) {
            LOG.debug("Closing a usage journal file failed", e);
        }
    }

    static String segmentName(long firstSeq) {
        return String.format("%s%020d%s", SEGMENT_PREFIX, firstSeq, SEGMENT_SUFFIX);
    }

    /** Reads durable records in sequence order, following segments as they are sealed; for one thread. */
    final class Reader implements AutoCloseable {
        private Segment segment;
        private FileChannel channel;
        private long position;
        private long nextSeq;

        private Reader(long fromSeq) {
            Map.Entry<Long, Segment> start = segments.floorEntry(fromSeq);
            segment = start != null ? start.getValue() : segments.firstEntry().getValue();
            nextSeq = fromSeq;
        }

        /** The sequence number after the last record returned (or the start): nothing below it is unread. */
        long nextSeq() {
            return nextSeq;
        }

        /** Up to {@code max} records that are on disk and not read yet, in order; empty when there are none. */
        List<JournalRecord> read(int max) throws IOException {
            List<JournalRecord> records = new ArrayList<>();
            while (records.size() < max) {
                boolean sealed = segment.sealed;
                long limit = segment.durableSize;
                if (position >= limit) {
                    Map.Entry<Long, Segment> next = sealed ? segments.higherEntry(segment.firstSeq) : null;
                    if (next == null) {
                        break;
                    }
                    closeChannel();
                    segment = next.getValue();
                    position = 0;
                    continue;
                }
                if (channel == null) {
                    channel = FileChannel.open(segment.path, StandardOpenOption.READ);
                }
                Frame frame = readFrame(channel, position, limit);
                if (frame == null) {
                    LOG.errorf(
                            "Damaged usage record at byte %d of %s; skipping %d bytes",
                            position, segment.path, limit - position);
                    position = limit;
                    continue;
                }
                position = frame.end;
                if (frame.record.seq() >= nextSeq) {
                    records.add(frame.record);
                    nextSeq = frame.record.seq() + 1;
                }
            }
            return records;
        }

        @Override
        public void close() {
            closeChannel();
        }

        private void closeChannel() {
            if (channel != null) {
                closeQuietly(channel);
                channel = null;
            }
        }
    }
}
