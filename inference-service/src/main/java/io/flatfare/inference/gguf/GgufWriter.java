package io.flatfare.inference.gguf;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;

/**
 * Writes a GGUF v3 file: header, typed metadata, tensor infos, padding to the alignment, tensor data.
 *
 * <p>Metadata and tensors are written in the order they were added, so the same calls give the same bytes.
 * Tensor data is produced while writing (nothing is held in memory), element by element in storage order:
 * dimension 0 ({@code ne0}, the innermost) varies fastest. All numbers are little-endian.
 *
 * <p>Only the JDK is used, so a model can be written without Quarkus or llama.cpp on the class path.
 */
public final class GgufWriter {

    /** "GGUF" read as a little-endian uint32. */
    public static final int MAGIC = 0x46554747;

    public static final int VERSION = 3;

    /** The alignment llama.cpp assumes when {@code general.alignment} is absent; also the one written here. */
    public static final int DEFAULT_ALIGNMENT = 32;

    public static final String ALIGNMENT_KEY = "general.alignment";

    private final List<Entry> metadata = new ArrayList<>();
    private final Set<String> keys = new HashSet<>();
    private final List<Tensor> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();
    private final int alignment;

    /** A writer that aligns tensor data to {@value #DEFAULT_ALIGNMENT} bytes and records that in the metadata. */
    public GgufWriter() {
        this(DEFAULT_ALIGNMENT);
    }

    public GgufWriter(int alignment) {
        if (alignment <= 0 || Integer.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("alignment must be a power of two, got " + alignment);
        }
        this.alignment = alignment;
        putUint32(ALIGNMENT_KEY, alignment);
    }

    public int alignment() {
        return alignment;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValueType.STRING, Objects.requireNonNull(value, key));
    }

    public GgufWriter putUint32(String key, long value) {
        if (value < 0 || value > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException(key + ": " + value + " does not fit a uint32");
        }
        return put(key, GgufValueType.UINT32, value);
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValueType.INT32, value);
    }

    public GgufWriter putUint64(String key, long value) {
        return put(key, GgufValueType.UINT64, value);
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValueType.FLOAT32, value);
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValueType.BOOL, value);
    }

    public GgufWriter putStringArray(String key, List<String> values) {
        List<String> copy = List.copyOf(values);
        return put(key, GgufValueType.ARRAY, new Array(GgufValueType.STRING, copy));
    }

    public GgufWriter putInt32Array(String key, int[] values) {
        return put(key, GgufValueType.ARRAY, new Array(GgufValueType.INT32, values.clone()));
    }

    public GgufWriter putFloat32Array(String key, float[] values) {
        return put(key, GgufValueType.ARRAY, new Array(GgufValueType.FLOAT32, values.clone()));
    }

    private GgufWriter put(String key, GgufValueType type, Object value) {
        Objects.requireNonNull(key, "key");
        if (!keys.add(key)) {
            throw new IllegalArgumentException("duplicate metadata key " + key);
        }
        metadata.add(new Entry(key, type, value));
        return this;
    }

    /**
     * Adds a tensor.
     *
     * @param dims its shape, innermost first ({@code ne0, ne1, ...}), as GGUF stores it
     * @param data opens a fresh source of its elements in storage order each time the file is written
     */
    public GgufWriter addTensor(String name, GgmlType type, long[] dims, Supplier<DoubleSupplier> data) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(data, "data");
        if (tensorNames.contains(name)) {
            throw new IllegalArgumentException("duplicate tensor " + name);
        }
        if (dims.length < 1 || dims.length > 4) {
            throw new IllegalArgumentException(name + ": a tensor has 1 to 4 dimensions, got " + dims.length);
        }
        long elements = 1;
        for (long dim : dims) {
            if (dim <= 0) {
                throw new IllegalArgumentException(name + ": dimensions must be positive: " + Arrays.toString(dims));
            }
            elements = Math.multiplyExact(elements, dim);
        }
        Math.multiplyExact(elements, type.bytesPerElement());
        tensorNames.add(name);
        tensors.add(new Tensor(name, type, dims.clone(), elements, data));
        return this;
    }

    /** Writes the file to {@code path} through a temporary sibling that is moved into place; returns its size. */
    public long write(Path path) throws IOException {
        Path absolute = path.toAbsolutePath();
        Path parent = absolute.getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Path temp = absolute.resolveSibling(absolute.getFileName() + ".part");
        try {
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(temp), 1 << 16)) {
                write(out);
            }
            try {
                Files.move(temp, absolute, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, absolute, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(temp);
        }
        return Files.size(absolute);
    }

    /** Writes the whole file to {@code out} (which is not closed); returns the number of bytes written. */
    public long write(OutputStream out) throws IOException {
        LittleEndianOut le = new LittleEndianOut(out);
        le.u32(MAGIC);
        le.u32(VERSION);
        le.u64(tensors.size());
        le.u64(metadata.size());
        for (Entry entry : metadata) {
            le.string(entry.key());
            le.u32(entry.type().id());
            writeValue(le, entry.type(), entry.value());
        }
        long offset = 0;
        for (Tensor tensor : tensors) {
            le.string(tensor.name());
            le.u32(tensor.dims().length);
            for (long dim : tensor.dims()) {
                le.u64(dim);
            }
            le.u32(tensor.type().id());
            le.u64(offset);
            offset = align(offset + tensor.byteSize());
        }
        le.pad(align(le.count()) - le.count());
        long dataStart = le.count();
        for (Tensor tensor : tensors) {
            writeData(le, tensor);
            le.pad(align(le.count() - dataStart) - (le.count() - dataStart));
        }
        le.flush();
        return le.count();
    }

    private long align(long n) {
        return (n + alignment - 1) & -(long) alignment;
    }

    private static void writeValue(LittleEndianOut le, GgufValueType type, Object value) throws IOException {
        switch (type) {
            case UINT32 -> le.u32((int) (long) (Long) value);
            case INT32 -> le.u32((Integer) value);
            case UINT64 -> le.u64((Long) value);
            case FLOAT32 -> le.u32(Float.floatToRawIntBits((Float) value));
            case BOOL -> le.u8((Boolean) value ? 1 : 0);
            case STRING -> le.string((String) value);
            case ARRAY -> {
                Array array = (Array) value;
                le.u32(array.elementType().id());
                switch (array.elementType()) {
                    case STRING -> {
                        @SuppressWarnings("unchecked")
                        List<String> strings = (List<String>) array.values();
                        le.u64(strings.size());
                        for (String s : strings) {
                            le.string(s);
                        }
                    }
                    case INT32 -> {
                        int[] ints = (int[]) array.values();
                        le.u64(ints.length);
                        for (int i : ints) {
                            le.u32(i);
                        }
                    }
                    case FLOAT32 -> {
                        float[] floats = (float[]) array.values();
                        le.u64(floats.length);
                        for (float f : floats) {
                            le.u32(Float.floatToRawIntBits(f));
                        }
                    }
                    default -> throw new IllegalStateException("unsupported array type " + array.elementType());
                }
            }
            default -> throw new IllegalStateException("unsupported value type " + type);
        }
    }

    private static void writeData(LittleEndianOut le, Tensor tensor) throws IOException {
        DoubleSupplier source = tensor.data().get();
        for (long i = 0; i < tensor.elements(); i++) {
            float value = (float) source.getAsDouble();
            switch (tensor.type()) {
                case F32 -> le.u32(Float.floatToRawIntBits(value));
                case F16 -> le.u16(Float.floatToFloat16(value));
            }
        }
    }

    private record Entry(String key, GgufValueType type, Object value) {}

    private record Array(GgufValueType elementType, Object values) {}

    private record Tensor(String name, GgmlType type, long[] dims, long elements, Supplier<DoubleSupplier> data) {
        long byteSize() {
            return elements * type.bytesPerElement();
        }
    }

    /** Little-endian primitives over a stream, counting the bytes written. */
    private static final class LittleEndianOut {
        private final OutputStream out;
        private final ByteBuffer buffer = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        private long flushed;

        LittleEndianOut(OutputStream out) {
            this.out = out;
        }

        long count() {
            return flushed + buffer.position();
        }

        private void ensure(int bytes) throws IOException {
            if (buffer.remaining() < bytes) {
                flush();
            }
        }

        void u8(int v) throws IOException {
            ensure(1);
            buffer.put((byte) v);
        }

        void u16(short v) throws IOException {
            ensure(2);
            buffer.putShort(v);
        }

        void u32(int v) throws IOException {
            ensure(4);
            buffer.putInt(v);
        }

        void u64(long v) throws IOException {
            ensure(8);
            buffer.putLong(v);
        }

        void string(String s) throws IOException {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            u64(bytes.length);
            bytes(bytes);
        }

        void bytes(byte[] bytes) throws IOException {
            if (bytes.length > buffer.remaining()) {
                flush();
                if (bytes.length > buffer.capacity()) {
                    out.write(bytes);
                    flushed += bytes.length;
                    return;
                }
            }
            buffer.put(bytes);
        }

        void pad(long n) throws IOException {
            for (long i = 0; i < n; i++) {
                u8(0);
            }
        }

        void flush() throws IOException {
            out.write(buffer.array(), 0, buffer.position());
            flushed += buffer.position();
            buffer.clear();
            out.flush();
        }
    }
}
