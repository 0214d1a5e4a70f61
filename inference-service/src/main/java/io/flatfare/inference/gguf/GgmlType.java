package io.flatfare.inference.gguf;

/** The tensor element types this writer can produce, with their GGML type ids. */
public enum GgmlType {
    F32(0, 4),
    F16(1, 2);

    private final int id;
    private final int bytesPerElement;

    GgmlType(int id, int bytesPerElement) {
        this.id = id;
        this.bytesPerElement = bytesPerElement;
    }

    /** The id GGUF stores in a tensor info. */
    public int id() {
        return id;
    }

    public int bytesPerElement() {
        return bytesPerElement;
    }

    /** The type with the given GGUF id, or {@code null} for one this code does not write (quantised types). */
    public static GgmlType byId(int id) {
        for (GgmlType type : values()) {
            if (type.id == id) {
                return type;
            }
        }
        return null;
    }
}
