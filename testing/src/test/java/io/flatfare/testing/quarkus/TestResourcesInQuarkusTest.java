package io.flatfare.testing.quarkus;

import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.sql.Connection;
import java.util.Properties;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;
import org.postgresql.Driver;

/** The resources as another module applies them: started by Quarkus, their settings in the application's config. */
@QuarkusTest
@WithTestResource(KafkaTestResource.class)
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
class TestResourcesInQuarkusTest {

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String kafkaBootstrapServers;

    @ConfigProperty(name = "quarkus.datasource.jdbc.url")
    String jdbcUrl;

    @ConfigProperty(name = "quarkus.datasource.username")
    String username;

    @ConfigProperty(name = "quarkus.datasource.password")
    String password;

    @ConfigProperty(name = "quarkus.redis.hosts")
    String redisHosts;

    @Test
    void applicationSeesTheServers() throws Exception {
        assertThat(kafkaBootstrapServers).matches("localhost:\\d+");
        assertThat(redisHosts).matches("redis://127\\.0\\.0\\.1:\\d+");
        Properties credentials = new Properties();
        credentials.setProperty("user", username);
        credentials.setProperty("password", password);
        try (Connection connection = new Driver().connect(jdbcUrl, credentials)) {
            assertThat(connection.isValid(5)).isTrue();
        }
    }
}
