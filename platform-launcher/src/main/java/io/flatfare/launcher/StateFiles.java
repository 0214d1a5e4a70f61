package io.flatfare.launcher;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Optional;
import java.util.Properties;

/** Secrets kept in the data directory between runs, readable by the owner only (mode 600). */
final class StateFiles {

    private static final SecureRandom RANDOM = new SecureRandom();

    private StateFiles() {}

    /** The admin and finance tokens of this data directory: made on the first run, the same on every later one. */
    static Properties tokens(Path file) {
        Properties tokens = new Properties();
        if (Files.exists(file)) {
            try (var in = Files.newInputStream(file)) {
                tokens.load(in);
            } catch (IOException e) {
                throw new UncheckedIOException("Could not read " + file, e);
            }
        }
        boolean added = false;
        for (String name : new String[] {
            "registry.admin-token", "gateway.admin-token", "metering.admin-token", "metering.finance-token"
        }) {
            if (tokens.getProperty(name, "").isBlank()) {
                tokens.setProperty(name, randomToken());
                added = true;
            }
        }
        if (added) {
            StringBuilder text = new StringBuilder("# Tokens of this Flatfare data directory (./flatfare up)\n");
            tokens.stringPropertyNames().stream()
                    .sorted()
                    .forEach(name -> text.append(name)
                            .append('=')
                            .append(tokens.getProperty(name))
                            .append('\n'));
            writePrivate(file, text.toString());
        }
        return tokens;
    }

    static Optional<String> read(Path file) {
        try {
            return Files.exists(file) ? Optional.of(Files.readString(file).trim()) : Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException("Could not read " + file, e);
        }
    }

    /** Writes the file with mode 600 from the start (never world-readable for a moment) and replaces it at once. */
    static void writePrivate(Path file, String content) {
        try {
            Path partial = file.resolveSibling(file.getFileName() + ".partial");
            Files.deleteIfExists(partial);
            Files.createFile(
                    partial, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(partial, content);
            Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not write " + file, e);
        }
    }

    private static String randomToken() {
        byte[] bytes = new byte[24];
        RANDOM.nextBytes(bytes);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }
}
