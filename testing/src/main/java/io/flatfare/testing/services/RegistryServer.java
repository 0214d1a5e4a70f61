package io.flatfare.testing.services;

import io.flatfare.testing.postgres.PostgresServer;
import java.time.Duration;
import java.util.UUID;

/** A real model registry process on its own throwaway PostgreSQL, for services that register with it. */
public final class RegistryServer implements AutoCloseable {

    private final PostgresServer postgres;
    private final ServiceProcess.Builder builder;
    private final String adminToken;
    private ServiceProcess process;

    private RegistryServer(PostgresServer postgres, ServiceProcess.Builder builder, String adminToken) {
        this.postgres = postgres;
        this.builder = builder;
        this.adminToken = adminToken;
    }

    /** Starts PostgreSQL and the registry jar, and waits until the registry is ready. */
    public static RegistryServer start(Duration instanceTtl) {
        PostgresServer postgres = PostgresServer.start();
        String token = UUID.randomUUID().toString();
        try {
            RegistryServer registry = new RegistryServer(
                    postgres,
                    ServiceProcess.builder("model-registry", ServiceProcess.quarkusJar("model-registry"))
                            .env("FLATFARE_REGISTRY_DB_URL", postgres.jdbcUrl())
                            .env("FLATFARE_REGISTRY_DB_USER", postgres.username())
                            .env("FLATFARE_REGISTRY_DB_PASSWORD", postgres.password())
                            .env("FLATFARE_REGISTRY_ADMIN_TOKEN", token)
                            .env("FLATFARE_REGISTRY_INSTANCE_TTL", instanceTtl.toSeconds() + "s")
                            .env("FLATFARE_REGISTRY_REAP_INTERVAL", "1s"),
                    token);
            registry.startProcess();
            return registry;
        } catch (RuntimeException e) {
            postgres.close();
            throw e;
        }
    }

    /** Stops the registry process (SIGTERM); its database stays. */
    public void stopProcess() {
        if (process != null) {
            process.close();
            process = null;
        }
    }

    /** Starts the registry process (again, after {@link #stopProcess}) on the same database and port, ready. */
    public void startProcess() {
        if (process == null) {
            process = builder.startReady(Duration.ofSeconds(90));
            builder.port(process.port()); // a restart keeps the address its clients dial
        }
    }

    /** HTTP and gRPC port. */
    public int port() {
        return process.port();
    }

    public String adminToken() {
        return adminToken;
    }

    public ServiceProcess process() {
        return process;
    }

    @Override
    public void close() {
        try {
            stopProcess();
        } finally {
            postgres.close();
        }
    }
}
