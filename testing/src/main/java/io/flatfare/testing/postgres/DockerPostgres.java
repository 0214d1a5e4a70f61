package io.flatfare.testing.postgres;

import io.flatfare.testing.support.Cleanup;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.postgresql.PostgreSQLContainer;

/** PostgreSQL in a container, for machines with a Docker engine but no server binaries. */
final class DockerPostgres {

    static final String IMAGE = "postgres:17-alpine";

    private DockerPostgres() {}

    static boolean isAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Docker maps the container's port to a free one of its choosing, so there is no clash to retry. */
    static PostgresServer start() {
        if (!isAvailable()) {
            throw new IllegalStateException(
                    "The docker PostgreSQL strategy needs a Docker engine, and none answers here");
        }
        PostgreSQLContainer container =
                new PostgreSQLContainer(IMAGE).withUsername(PostgresServer.USER).withPassword(PostgresServer.PASSWORD);
        try {
            container.start();
        } catch (RuntimeException e) {
            container.stop();
            throw new IllegalStateException("Could not start PostgreSQL in a " + IMAGE + " container", e);
        }
        Cleanup cleanup = Cleanup.register("PostgreSQL container " + container.getContainerId(), container::stop);
        return new PostgresServer(
                PostgresServer.Strategy.DOCKER,
                container.getJdbcUrl(),
                container.getUsername(),
                container.getPassword(),
                null,
                cleanup);
    }
}
