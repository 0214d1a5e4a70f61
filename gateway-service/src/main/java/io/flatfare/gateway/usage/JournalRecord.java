package io.flatfare.gateway.usage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * One journaled Kafka record: everything the relay needs to send it, so that a resend after a restart is
 * byte-identical to the first attempt.
 *
 * <p>On disk a record is a frame: {@code int bodyLength, int crc32c(body), body}, where the body is {@code long seq,
 * long appendedAtMillis, key, short headerCount, (name, value)*, int valueLength, value}; strings are a {@code short}
 * length and UTF-8 bytes, all numbers big-endian. A frame whose length or checksum does not hold is a torn write.
 *
 * @param seq position in the journal, increasing by one per record
 * @param appendedAtMillis when the recorder accepted the event (epoch milliseconds)
 * @param key the Kafka key (account id)
 * @param headers the Kafka headers, in order
 * @param value the Kafka value (the event's JSON)
 */
record JournalRecord(long seq, long appendedAtMillis, String key, Map<String, String> headers, byte[] value) {

    static final int FRAME_HEADER_BYTES = 8;

    /** Larger bodies are rejected when written and read as corruption; an event is well under 4 KiB. */
    static final int MAX_BODY_BYTES = 1 << 20;

    JournalRecord {
        headers = Collections.unmodifiableMap(new LinkedHashMap<>(headers));
    }

    /**
     * The bytes {@link #encode} will write for this record, header included; rejects what it would: a body over
     * {@link #MAX_BODY_BYTES} or a string over 65535 bytes. Asked when a record is handed over, so that the writer
     * never meets a record it cannot write, and the journal knows its size before writing it.
     */
    static int frameBytes(String key, Map<String, String> headers, byte[] value) {
        long size = Long.BYTES * 2 + Short.BYTES + checkedLength(key) + Short.BYTES + Integer.BYTES + value.length;
        for (Map.Entry<String, String> header : headers.entrySet()) {
            size += Short.BYTES * 2 + checkedLength(header.getKey()) + checkedLength(header.getValue());
        }
        if (size > MAX_BODY_BYTES || headers.size() > 0xffff) {
            throw new IllegalArgumentException("a journal record of " + size + " bytes exceeds " + MAX_BODY_BYTES);
        }
        return FRAME_HEADER_BYTES + (int) size;
    }

    private static int checkedLength(String value) {
        int length = utf8(value).length;
        if (length > 0xffff) {
            throw new IllegalArgumentException("a journal string of " + length + " bytes is too long");
        }
        return length;
    }

    /** The whole frame, header included. */
    ByteBuffer encode() {
        byte[] keyBytes = utf8(key);
        int bodyLength = Long.BYTES * 2 + Short.BYTES + keyBytes.length + Short.BYTES + Integer.BYTES + value.length;
        byte[][] headerBytes = new byte[headers.size() * 2][];
        int i = 0;
        for (Map.Entry<String, String> header : headers.entrySet()) {
            headerBytes[i] = utf8(header.getKey());
            headerBytes[i + 1] = utf8(header.getValue());
            bodyLength += Short.BYTES * 2 + headerBytes[i].length + headerBytes[i + 1].length;
            i += 2;
        }
        if (bodyLength > MAX_BODY_BYTES) {
            throw new IllegalArgumentException(
                    "a journal record of " + bodyLength + " bytes exceeds " + MAX_BODY_BYTES);
        }
        ByteBuffer frame = ByteBuffer.allocate(FRAME_HEADER_BYTES + bodyLength);
        frame.position(FRAME_HEADER_BYTES);
        frame.putLong(seq).putLong(appendedAtMillis);
        putString(frame, keyBytes);
        frame.putShort((short) headers.size());
        for (byte[] bytes : headerBytes) {
            putString(frame, bytes);
        }
        frame.putInt(value.length).put(value);
        CRC32C crc = new CRC32C();
        crc.update(frame.array(), FRAME_HEADER_BYTES, bodyLength);
        frame.putInt(0, bodyLength).putInt(4, (int) crc.getValue());
        return frame.flip();
    }

    /** The body length a frame header announces, or -1 when it cannot be a frame of this journal. */
    static int bodyLength(ByteBuffer frameHeader) {
        int length = frameHeader.getInt(0);
        return length < minimumBodyBytes() || length > MAX_BODY_BYTES ? -1 : length;
    }

    /**
     * The record in {@code body}, or empty when the checksum or the structure does not hold.
     *
     * @param frameHeader the 8 bytes before the body
     */
    static Optional<JournalRecord> decode(ByteBuffer frameHeader, ByteBuffer body) {
        CRC32C crc = new CRC32C();
        crc.update(body.duplicate());
        if ((int) crc.getValue() != frameHeader.getInt(4)) {
            return Optional.empty();
        }
        try {
            long seq = body.getLong();
            long appendedAt = body.getLong();
            String key = getString(body);
            int headerCount = body.getShort() & 0xffff;
            Map<String, String> headers = new LinkedHashMap<>();
            for (int i = 0; i < headerCount; i++) {
                headers.put(getString(body), getString(body));
            }
            int valueLength = body.getInt();
            if (valueLength < 0 || valueLength != body.remaining()) {
                return Optional.empty();
            }
            byte[] value = new byte[valueLength];
            body.get(value);
            return Optional.of(new JournalRecord(seq, appendedAt, key, headers, value));
        } catch (RuntimeException malformed) {
            // A checksum collision on garbage is astronomically unlikely, but a bad length must not escape.
            return Optional.empty();
        }
    }

    private static int minimumBodyBytes() {
        return Long.BYTES * 2 + Short.BYTES * 2 + Integer.BYTES;
    }

    private static void putString(ByteBuffer buffer, byte[] bytes) {
        if (bytes.length > 0xffff) {
            throw new IllegalArgumentException("a journal string of " + bytes.length + " bytes is too long");
        }
        buffer.putShort((short) bytes.length).put(bytes);
    }

    private static String getString(ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.getShort() & 0xffff];
        buffer.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static byte[] utf8(String value) {
        return value.getBytes(StandardCharsets.UTF_8);
    }
}
