package io.flatfare.inference.gguf;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a GGUF file says about itself: version, metadata (in file order) and tensor infos.
 *
 * <p>Metadata values are {@link Long} for every integer type (unsigned ones as their value), {@link Float},
 * {@link Double}, {@link Boolean}, {@link String}, or a {@link List} of those for arrays.
 *
 * @param dataOffset absolute file offset of the tensor data section
 */
public record GgufFile(int version, Map<String, Object> metadata, List<TensorInfo> tensors, long dataOffset) {

    /**
     * One tensor's info.
     *
     * @param dims its shape innermost first ({@code ne0} first)
     * @param typeId its GGML type id
     * @param offset its data's offset from {@link GgufFile#dataOffset()}
     */
    public record TensorInfo(String name, List<Long> dims, int typeId, long offset) {

        public long elementCount() {
            long n = 1;
            for (long dim : dims) {
                n *= dim;
            }
            return n;
        }

        /** Its type, or empty for one this code does not write (a quantised type). */
        public Optional<GgmlType> type() {
            return Optional.ofNullable(GgmlType.byId(typeId));
        }
    }

    public Optional<Object> value(String key) {
        return Optional.ofNullable(metadata.get(key));
    }

    public Optional<String> string(String key) {
        return value(key).filter(String.class::isInstance).map(String.class::cast);
    }

    public Optional<Long> integer(String key) {
        return value(key).filter(Long.class::isInstance).map(Long.class::cast);
    }

    public Optional<TensorInfo> tensor(String name) {
        return tensors.stream().filter(t -> t.name().equals(name)).findFirst();
    }

    public int alignment() {
        return integer(GgufWriter.ALIGNMENT_KEY).map(Long::intValue).orElse(GgufWriter.DEFAULT_ALIGNMENT);
    }
}
