package io.flatfare.metering;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.flatfare.testing.kafka.KafkaServer;
import io.flatfare.testing.postgres.PostgresServer;
import io.flatfare.testing.services.ServiceProcess;
import io.flatfare.testing.support.FreePorts;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The packaged service as a real process: start-up fails fast, with a non-zero exit and a message naming the
 * setting, when a required setting is missing or Kafka or the database cannot be reached; it starts with
 * every setting right.
 */
class MeteringStartupIT {

    static PostgresServer postgres;
    static KafkaServer kafka;

    @BeforeAll
    static void startServers() {
        postgres = PostgresServer.start();
        kafka = KafkaServer.start();
    }

    @AfterAll
    static void stopServers() {
        kafka.close();
        postgres.close();
    }

    static Map<String, String> environment() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("FLATFARE_METERING_DB_URL", postgres.jdbcUrl());
        env.put("FLATFARE_METERING_DB_USER", postgres.username());
        env.put("FLATFARE_METERING_DB_PASSWORD", postgres.password());
        env.put("FLATFARE_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrapServers());
        env.put("FLATFARE_METERING_ADMIN_TOKEN", "it-admin-token");
        env.put("FLATFARE_METERING_FINANCE_TOKEN", "it-finance-token");
        return env;
    }

    static ServiceProcess start(Map<String, String> env, String... properties) {
        ServiceProcess.Builder builder =
                ServiceProcess.builder("metering-service", ServiceProcess.quarkusJar("metering-service"));
        env.forEach(builder::env);
        for (int i = 0; i < properties.length; i += 2) {
            builder.property(properties[i], properties[i + 1]);
        }
        return builder.start();
    }

    @Test
    void startsWithEverySettingRight() {
        try (var process = start(environment())) {
            process.awaitReady(Duration.ofSeconds(90));
        }
    }

    /**
     * The harness's own start, on the packaged service: a port picked for it that another process takes before the
     * service binds it makes the service exit, and the start is tried again on another port; a port set by the
     * caller is never changed, so there the clash is the failure.
     */
    @Test
    void aPickedPortTakenBeforeTheServiceBindsItIsRetriedOnAnother() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, FreePorts.LOOPBACK)) {
            AtomicInteger handedOut = new AtomicInteger();
            ServiceProcess.Builder builder = ServiceProcess.builder(
                            "metering-service", ServiceProcess.quarkusJar("metering-service"))
                    .ports(() -> handedOut.getAndIncrement() == 0 ? taken.getLocalPort() : FreePorts.pick());
            environment().forEach(builder::env);
            try (var process = builder.startReady(Duration.ofSeconds(90))) {
                assertThat(handedOut.get()).isEqualTo(2);
                assertThat(process.port()).isNotEqualTo(taken.getLocalPort());
            }

            assertThatThrownBy(() -> builder.port(taken.getLocalPort()).startReady(Duration.ofSeconds(90)))
                    .hasMessageContaining("exited with code")
                    .hasMessageContaining("in use");
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "FLATFARE_METERING_DB_URL",
                "FLATFARE_METERING_DB_USER",
                "FLATFARE_KAFKA_BOOTSTRAP_SERVERS",
                "FLATFARE_METERING_ADMIN_TOKEN",
                "FLATFARE_METERING_FINANCE_TOKEN"
            })
    void aMissingSettingStopsStartUpNamingIt(String missing) {
        Map<String, String> env = environment();
        env.remove(missing);
        try (var process = start(env)) {
            assertThat(process.awaitExit(Duration.ofSeconds(60))).isNotZero();
            assertThat(process.output()).contains(missing);
        }
    }

    @Test
    void anUnreachableDatabaseStopsStartUp() {
        Map<String, String> env = environment();
        String address = "127.0.0.1:" + FreePorts.pick();
        env.put("FLATFARE_METERING_DB_URL", "jdbc:postgresql://" + address + "/postgres");
        try (var process = start(env)) {
            assertThat(process.awaitExit(Duration.ofSeconds(60))).isNotZero();
            assertThat(process.output()).contains(address);
        }
    }

    @Test
    void anUnreachableKafkaStopsStartUpWithinTheTimeout() {
        Map<String, String> env = environment();
        String bootstrap = "127.0.0.1:" + FreePorts.pick();
        env.put("FLATFARE_KAFKA_BOOTSTRAP_SERVERS", bootstrap);
        long started = System.nanoTime();
        try (var process = start(env, "flatfare.metering.startup-timeout", "5s")) {
            assertThat(process.awaitExit(Duration.ofSeconds(60))).isNotZero();
            assertThat(process.output()).contains("Kafka at " + bootstrap + " did not answer within PT5S");
        }
        // JVM start, Flyway and the 5 s wait; far below the minutes an unbounded retry would hang.
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(45));
    }
}
