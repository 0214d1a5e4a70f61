package io.flatfare.testing.postgres;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.util.Map;

/**
 * Gives a {@code @QuarkusTest} an empty PostgreSQL database: {@code @WithTestResource(PostgresTestResource.class)}.
 * Sets {@code quarkus.datasource.db-kind}, {@code .jdbc.url}, {@code .username} and {@code .password}.
 */
public class PostgresTestResource implements QuarkusTestResourceLifecycleManager {

    private PostgresServer server;

    @Override
    public Map<String, String> start() {
        server = PostgresServer.start();
        return server.quarkusConfig();
    }

    @Override
    public void stop() {
        if (server != null) {
            server.close();
            server = null;
        }
    }

    /** The running server, for this package's tests. */
    PostgresServer server() {
        return server;
    }
}
