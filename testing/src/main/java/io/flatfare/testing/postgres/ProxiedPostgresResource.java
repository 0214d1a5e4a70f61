package io.flatfare.testing.postgres;

import io.flatfare.testing.support.TcpProxy;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.net.URI;
import java.util.HashMap;
import java.util.Map;

/**
 * A real PostgreSQL that the service reaches through a {@link TcpProxy}, injected into the test's
 * {@code TcpProxy} field, so a test can make the database unreachable and bring it back.
 */
public class ProxiedPostgresResource implements QuarkusTestResourceLifecycleManager {

    private PostgresServer server;
    private TcpProxy proxy;

    @Override
    public Map<String, String> start() {
        server = PostgresServer.start();
        // jdbc:postgresql://host:port/db?params, one host: the URI parser reads it without the jdbc: prefix.
        URI uri = URI.create(server.jdbcUrl().substring("jdbc:".length()));
        proxy = TcpProxy.to(uri.getHost(), uri.getPort());
        Map<String, String> config = new HashMap<>(server.quarkusConfig());
        config.put(
                "quarkus.datasource.jdbc.url",
                server.jdbcUrl().replace(uri.getHost() + ":" + uri.getPort(), "127.0.0.1:" + proxy.port()));
        return config;
    }

    @Override
    public void inject(TestInjector testInjector) {
        testInjector.injectIntoFields(proxy, new TestInjector.MatchesType(TcpProxy.class));
    }

    @Override
    public void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (server != null) {
            server.close();
        }
    }
}
