package io.flatfare.inference.engine.llamacpp;

import de.kherud.llama.LlamaModel;
import de.kherud.llama.LogLevel;
import de.kherud.llama.args.LogFormat;
import io.flatfare.inference.engine.EngineException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * The JNI library of {@code de.kherud:llama}, set up once per JVM before {@link LlamaModel} initialises.
 *
 * <p>The binding's loader ({@code LlamaLoader}) has three habits this class defuses:
 *
 * <ul>
 *   <li>On first use it deletes every file whose name starts with {@code llama} or {@code jllama} in its temp
 *       directory ({@code de.kherud.llama.tmpdir}, default {@code java.io.tmpdir}): {@link #prepare} always points
 *       that property at a dedicated directory, never the shared {@code /tmp}.
 *   <li>When it extracts the library itself it prints to stdout and marks the file for deletion on exit: the
 *       bundled library is extracted here instead (atomically, reused while its content is unchanged) and
 *       {@code de.kherud.llama.lib.path} points at it, so the loader only calls {@code System.load}.
 *   <li>Its native logging goes to stderr unless redirected: {@link #installLogger()} routes llama.cpp's log
 *       callback into JBoss Logging (category {@code io.flatfare.inference.engine.llamacpp.native}). The server
 *       code's own log ({@code common_log}) is silenced per model with {@code --log-verbosity -1}, which also
 *       drops the loader's messages.
 * </ul>
 */
final class NativeLibrary {

    static final String TMPDIR_PROPERTY = "de.kherud.llama.tmpdir";
    static final String LIB_PATH_PROPERTY = "de.kherud.llama.lib.path";
    static final String LIBRARY_FILE = System.mapLibraryName("jllama");

    private static final Logger LOG = Logger.getLogger(NativeLibrary.class);
    private static final Logger NATIVE_LOG = Logger.getLogger("io.flatfare.inference.engine.llamacpp.native");

    /**
     * Byte strings found only in llama.cpp builds with a GPU backend (statically linked into the JNI library by
     * the binding's CUDA build, or in separate ggml backend libraries next to it). The CPU build contains none.
     */
    private static final List<String> GPU_MARKERS = List.of(
            "ggml_cuda_init",
            "ggml_backend_cuda",
            "libcudart.so",
            "libcublas",
            "ggml_vk_",
            "libvulkan.so",
            "ggml_metal",
            "ggml_sycl",
            "libhipblas");

    private static volatile Path libraryDirectory;
    private static volatile boolean gpuBackend;

    private NativeLibrary() {}

    /** The directory used when nobody called {@link #prepare}: {@code ${java.io.tmpdir}/flatfare-llama}. */
    static Path defaultDirectory() {
        return Path.of(System.getProperty("java.io.tmpdir"), "flatfare-llama");
    }

    static boolean isPrepared() {
        return libraryDirectory != null;
    }

    /** Whether the loaded library has a GPU backend (decides what {@code gpuLayers = -1} means). */
    static boolean hasGpuBackend() {
        return gpuBackend;
    }

    static synchronized void ensurePrepared() {
        if (libraryDirectory == null) {
            prepare(Optional.empty(), defaultDirectory());
        }
    }

    /**
     * Points the binding at a library and loads it. Idempotent: later calls return the first result.
     *
     * @param preExtracted a directory holding {@code libjllama.so} (e.g. a CUDA build); empty for the bundled
     *     CPU library, which is then extracted into {@code workDirectory}
     * @param workDirectory a directory owned by this process (or shared only with other Flatfare processes): the
     *     binding's temp directory, and where the bundled library is extracted
     * @return the directory the library was loaded from
     */
    static synchronized Path prepare(Optional<Path> preExtracted, Path workDirectory) {
        if (libraryDirectory != null) {
            return libraryDirectory;
        }
        Path work = dedicated(workDirectory.toAbsolutePath().normalize());
        try {
            Files.createDirectories(work);
        } catch (IOException e) {
            throw new EngineException("cannot create the native library directory " + work + ": " + e, e);
        }
        System.setProperty(TMPDIR_PROPERTY, work.toString());

        Path directory;
        if (preExtracted.isPresent()) {
            directory = preExtracted.get().toAbsolutePath().normalize();
            requireLibrary(directory);
        } else if (System.getProperty(LIB_PATH_PROPERTY) != null
                && Files.isRegularFile(Path.of(System.getProperty(LIB_PATH_PROPERTY), LIBRARY_FILE))) {
            directory = Path.of(System.getProperty(LIB_PATH_PROPERTY)).toAbsolutePath();
        } else {
            directory = work;
            extractBundled(work);
        }
        System.setProperty(LIB_PATH_PROPERTY, directory.toString());

        long start = System.nanoTime();
        try {
            Class.forName(LlamaModel.class.getName(), true, LlamaModel.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            throw new EngineException("cannot load the llama.cpp library from " + directory + ": " + e, e);
        }
        gpuBackend = scanForGpuBackend(directory);
        libraryDirectory = directory;
        LOG.infof(
                "llama.cpp library loaded from %s in %.0f ms (GPU backend: %s)",
                directory, (System.nanoTime() - start) / 1e6, gpuBackend ? "yes" : "no");
        return directory;
    }

    /** A shared temp directory itself is never used: the binding would clean other programs' files there. */
    private static Path dedicated(Path directory) {
        Path tmp =
                Path.of(System.getProperty("java.io.tmpdir")).toAbsolutePath().normalize();
        if (directory.equals(tmp)
                || directory.getParent() == null
                || directory.equals(Path.of("/tmp"))
                || directory.equals(Path.of("/var/tmp"))) {
            Path sub = directory.resolve("flatfare-llama");
            LOG.warnf("%s is a shared directory; using %s for the llama.cpp library instead", directory, sub);
            return sub;
        }
        return directory;
    }

    private static void requireLibrary(Path directory) {
        Path file = directory.resolve(LIBRARY_FILE);
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new EngineException("no readable " + LIBRARY_FILE + " in " + directory, null);
        }
    }

    /** Copies the bundled library into {@code directory} unless an identical copy is there already. */
    private static void extractBundled(Path directory) {
        String resource = "/de/kherud/llama/" + nativeFolder() + "/" + LIBRARY_FILE;
        byte[] bytes;
        try (InputStream in = LlamaModel.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new EngineException(
                        "the llama.cpp binding ships no library for this platform (" + resource + ")", null);
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new EngineException("cannot read " + resource + ": " + e, e);
        }
        Path target = directory.resolve(LIBRARY_FILE);
        try {
            if (Files.isRegularFile(target)
                    && Files.size(target) == bytes.length
                    && MessageDigest.isEqual(sha256(Files.readAllBytes(target)), sha256(bytes))) {
                return;
            }
            // Not named llama*/jllama*: the binding's clean-up must never delete a half-written copy.
            Path temp = Files.createTempFile(directory, ".flatfare-", ".so.tmp");
            try {
                Files.write(temp, bytes);
                temp.toFile().setExecutable(true, false);
                temp.toFile().setReadable(true, false);
                try {
                    Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(temp);
            }
        } catch (IOException e) {
            throw new EngineException("cannot extract the llama.cpp library to " + target + ": " + e, e);
        }
    }

    /** The binding's own folder name for this OS and CPU ({@code Linux/x86_64}, ...). */
    private static String nativeFolder() {
        try {
            Class<?> osInfo = Class.forName("de.kherud.llama.OSInfo");
            Method method = osInfo.getDeclaredMethod("getNativeLibFolderPathForCurrentOS");
            method.setAccessible(true);
            return (String) method.invoke(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
            String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
            String osName = os.contains("mac") ? "Mac" : os.contains("win") ? "Windows" : "Linux";
            String archName = arch.equals("amd64") || arch.equals("x86_64") ? "x86_64" : arch;
            return osName + "/" + archName;
        }
    }

    private static boolean scanForGpuBackend(Path directory) {
        try (var files = Files.list(directory)) {
            List<Path> candidates = files.filter(p -> {
                        String name = p.getFileName().toString();
                        return name.equals(LIBRARY_FILE) || name.startsWith("libggml");
                    })
                    .toList();
            for (Path candidate : candidates) {
                if (containsAny(candidate, GPU_MARKERS)) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            LOG.warnf("cannot inspect %s for a GPU backend (%s); assuming none", directory, e);
            return false;
        }
    }

    /** Whether the file contains any of {@code markers} (ASCII), read in chunks with overlap. */
    static boolean containsAny(Path file, List<String> markers) throws IOException {
        byte[][] needles =
                markers.stream().map(m -> m.getBytes(StandardCharsets.US_ASCII)).toArray(byte[][]::new);
        int overlap = markers.stream().mapToInt(String::length).max().orElse(0);
        ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        byte[] carry = new byte[0];
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            while (true) {
                buffer.clear();
                int read = channel.read(buffer);
                if (read < 0) {
                    return false;
                }
                byte[] chunk = new byte[carry.length + read];
                System.arraycopy(carry, 0, chunk, 0, carry.length);
                System.arraycopy(buffer.array(), 0, chunk, carry.length, read);
                for (byte[] needle : needles) {
                    if (indexOf(chunk, needle) >= 0) {
                        return true;
                    }
                }
                int keep = Math.min(overlap, chunk.length);
                carry = java.util.Arrays.copyOfRange(chunk, chunk.length - keep, chunk.length);
            }
        }
    }

    /** The first position of {@code needle} in {@code haystack}, or -1. */
    static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Routes llama.cpp's log callback (llama and ggml messages) into JBoss Logging. Must be called after every
     * model load: loading runs {@code common_init()}, which replaces the callback with one into llama.cpp's own
     * (silenced) log. The callback runs on the calling thread or the model's server thread (both attached to the
     * JVM); it never throws, since an exception pending in native code would be undefined behaviour.
     */
    static void installLogger() {
        LlamaModel.setLogger(LogFormat.TEXT, NativeLibrary::log);
    }

    private static void log(LogLevel level, String message) {
        try {
            Logger.Level target = switch (level) {
                case ERROR -> Logger.Level.ERROR;
                case WARN -> Logger.Level.WARN;
                case INFO -> Logger.Level.DEBUG;
                case DEBUG -> Logger.Level.TRACE;
            };
            if (!NATIVE_LOG.isEnabled(target) || message == null) {
                return;
            }
            String text = message.strip();
            if (!text.isEmpty()) {
                NATIVE_LOG.log(target, text);
            }
        } catch (Throwable ignored) {
            // Never let anything escape into native code.
        }
    }
}
