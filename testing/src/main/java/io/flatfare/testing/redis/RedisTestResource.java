package io.flatfare.testing.redis;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.util.Map;

/**
 * Gives a {@code @QuarkusTest} a Redis server: {@code @WithTestResource(RedisTestResource.class)}. Sets
 * {@code quarkus.redis.hosts}.
 */
public class RedisTestResource implements QuarkusTestResourceLifecycleManager {

    private RedisServer server;

    @Override
    public Map<String, String> start() {
        server = RedisServer.start();
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
    RedisServer server() {
        return server;
    }
}
