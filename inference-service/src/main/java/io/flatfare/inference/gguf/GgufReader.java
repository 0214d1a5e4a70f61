package io.flatfare.inference.gguf;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the header of a GGUF file (v2 or v3): metadata and tensor infos, never the tensor data unless asked
 * ({@link #readF32}). Guards against absurd counts so a corrupt file fails with an {@link IOException}.
 */
public final class GgufReader {

    private static final long MAX_STRING = 1L << 26;
    private static final long MAX_COUNT = 1L << 26;

    private GgufReader() {}

    public static GgufFile read(Path path) throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(path), 1 << 16)) {
            return read(in);
        }
    }

    /** Reads the header from {@code in}, left positioned at the start of the tensor data. */
    public static GgufFile read(InputStream in) throws IOException {
        In le = new In(in);
        int magic = le.i32();
        if (magic != GgufWriter.MAGIC) {
            throw new IOException(String.format("not a GGUF file (magic 0x%08x)", magic));
        }
        int version = le.i32();
        if (version != 2 && version != 3) {
            throw new IOException("unsupported GGUF version " + version);
        }
        long tensorCount = count(le.i64(), "tensor count");
        long kvCount = count(le.i64(), "metadata count");
        Map<String, Object> metadata = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = le.string();
            GgufValueType type = GgufValueType.byId(le.i32());
            if (metadata.put(key, value(le, type)) != null) {
                throw new IOException("duplicate metadata key " + key);
            }
        }
        List<GgufFile.TensorInfo> tensors = new ArrayList<>();
        for (long i = 0; i < tensorCount; i++) {
            String name = le.string();
            int nDims = le.i32();
            if (nDims < 1 || nDims > 4) {
                throw new IOException(name + ": " + nDims + " dimensions");
            }
            List<Long> dims = new ArrayList<>(nDims);
            for (int d = 0; d < nDims; d++) {
                dims.add(le.i64());
            }
            int type = le.i32();
            long offset = le.i64();
            tensors.add(new GgufFile.TensorInfo(name, List.copyOf(dims), type, offset));
        }
        Object alignmentValue = metadata.get(GgufWriter.ALIGNMENT_KEY);
        long alignment = alignmentValue instanceof Long l ? l : GgufWriter.DEFAULT_ALIGNMENT;
        if (alignment <= 0 || Long.bitCount(alignment) != 1) {
            throw new IOException("bad alignment " + alignment);
        }
        long dataOffset = (le.position() + alignment - 1) / alignment * alignment;
        le.skip(dataOffset - le.position());
        return new GgufFile(version, Collections.unmodifiableMap(metadata), List.copyOf(tensors), dataOffset);
    }

    /** The elements of an F32 or F16 tensor as floats, in storage order. */
    public static float[] readF32(Path path, GgufFile file, String tensorName) throws IOException {
        GgufFile.TensorInfo info =
                file.tensor(tensorName).orElseThrow(() -> new IOException("no tensor " + tensorName));
        GgmlType type = info.type().orElseThrow(() -> new IOException(tensorName + ": type " + info.typeId()));
        long n = info.elementCount();
        if (n > Integer.MAX_VALUE / 4) {
            throw new IOException(tensorName + " is too large to read into an array");
        }
        ByteBuffer buffer =
                ByteBuffer.allocate((int) n * type.bytesPerElement()).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long position = file.dataOffset() + info.offset();
            while (buffer.hasRemaining()) {
                int read = channel.read(buffer, position + buffer.position());
                if (read < 0) {
                    throw new EOFException(tensorName + " is truncated");
                }
            }
        }
        buffer.flip();
        float[] values = new float[(int) n];
        for (int i = 0; i < values.length; i++) {
            values[i] = type == GgmlType.F32 ? buffer.getFloat() : Float.float16ToFloat(buffer.getShort());
        }
        return values;
    }

    private static Object value(In le, GgufValueType type) throws IOException {
        return switch (type) {
            case UINT8 -> (long) (le.u8());
            case INT8 -> (long) (byte) le.u8();
            case UINT16 -> (long) (le.i16() & 0xFFFF);
            case INT16 -> (long) le.i16();
            case UINT32 -> le.i32() & 0xFFFF_FFFFL;
            case INT32 -> (long) le.i32();
            case UINT64, INT64 -> le.i64();
            case FLOAT32 -> Float.intBitsToFloat(le.i32());
            case FLOAT64 -> Double.longBitsToDouble(le.i64());
            case BOOL -> le.u8() != 0;
            case STRING -> le.string();
            case ARRAY -> {
                GgufValueType elementType = GgufValueType.byId(le.i32());
                if (elementType == GgufValueType.ARRAY) {
                    throw new IOException("nested arrays are not supported");
                }
                long n = count(le.i64(), "array length");
                List<Object> values = new ArrayList<>((int) n);
                for (long i = 0; i < n; i++) {
                    values.add(value(le, elementType));
                }
                yield Collections.unmodifiableList(values);
            }
        };
    }

    private static long count(long n, String what) throws IOException {
        if (n < 0 || n > MAX_COUNT) {
            throw new IOException("implausible " + what + ": " + n);
        }
        return n;
    }

    /** Little-endian primitives over a stream, counting the bytes read. */
    private static final class In {
        private final DataInputStream in;
        private final byte[] scratch = new byte[8];
        private long position;

        In(InputStream in) {
            this.in = new DataInputStream(in);
        }

        long position() {
            return position;
        }

        private ByteBuffer fill(int n) throws IOException {
            in.readFully(scratch, 0, n);
            position += n;
            return ByteBuffer.wrap(scratch, 0, n).order(ByteOrder.LITTLE_ENDIAN);
        }

        int u8() throws IOException {
            return fill(1).get() & 0xFF;
        }

        short i16() throws IOException {
            return fill(2).getShort();
        }

        int i32() throws IOException {
            return fill(4).getInt();
        }

        long i64() throws IOException {
            return fill(8).getLong();
        }

        String string() throws IOException {
            long n = i64();
            if (n < 0 || n > MAX_STRING) {
                throw new IOException("implausible string length " + n);
            }
            byte[] bytes = new byte[(int) n];
            in.readFully(bytes);
            position += n;
            return new String(bytes, StandardCharsets.UTF_8);
        }

        void skip(long n) throws IOException {
            in.skipNBytes(n);
            position += n;
        }
    }
}
