package io.flatfare.testing.kafka;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.util.Map;

/**
 * Gives a {@code @QuarkusTest} a Kafka broker: {@code @WithTestResource(KafkaTestResource.class)}. Sets
 * {@code kafka.bootstrap.servers}.
 */
public class KafkaTestResource implements QuarkusTestResourceLifecycleManager {

    private KafkaServer server;

    @Override
    public Map<String, String> start() {
        server = KafkaServer.start();
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
    KafkaServer server() {
        return server;
    }
}
