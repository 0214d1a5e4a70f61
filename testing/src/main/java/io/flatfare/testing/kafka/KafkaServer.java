package io.flatfare.testing.kafka;

import io.flatfare.testing.support.Cleanup;
import io.flatfare.testing.support.Dirs;
import io.flatfare.testing.support.Settings;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import kafka.server.BrokerServer;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.bootstrap.BootstrapMetadata;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * A Kafka broker for tests: a real KRaft broker inside this JVM (one node acting as broker and controller), or an
 * existing cluster named by {@value #BOOTSTRAP_SERVERS_ENV}. In-JVM means no Docker, no download and a start of a few
 * seconds.
 */
public final class KafkaServer implements AutoCloseable {

    /** Bootstrap servers of an existing cluster to use instead of starting a broker. */
    public static final String BOOTSTRAP_SERVERS_ENV = "FLATFARE_TEST_KAFKA_BOOTSTRAP_SERVERS";

    /**
     * The broker logs its whole configuration and every state change at INFO. Kept here because JUL holds loggers
     * weakly: a collected logger would forget its level.
     */
    private static final List<Logger> QUIETED_LOGGERS = List.of(
            Logger.getLogger("kafka"), Logger.getLogger("org.apache.kafka"), Logger.getLogger("state.change.logger"));

    private static final Map<String, String> BROKER_CONFIG = Map.of(
            // A single broker cannot meet Kafka's default replication of 3 for its internal topics.
            "offsets.topic.replication.factor", "1",
            "offsets.topic.num.partitions", "1",
            "transaction.state.log.replication.factor", "1",
            "transaction.state.log.min.isr", "1",
            "transaction.state.log.num.partitions", "1",
            "share.coordinator.state.topic.replication.factor", "1",
            "share.coordinator.state.topic.min.isr", "1",
            // Consumers in tests join one by one; waiting for more members only slows them down.
            "group.initial.rebalance.delay.ms", "0",
            // As in releasedMetadata(): no APIs or features still in development.
            "unstable.api.versions.enable", "false",
            "unstable.feature.versions.enable", "false");

    private final String bootstrapServers;
    private final Path directory;
    private final Cleanup cleanup;
    // Null for an existing cluster: only a broker started here can be stopped and restarted.
    private final KafkaClusterTestKit cluster;

    private KafkaServer(String bootstrapServers, Path directory, Cleanup cleanup) {
        this(bootstrapServers, directory, cleanup, null);
    }

    private KafkaServer(String bootstrapServers, Path directory, Cleanup cleanup, KafkaClusterTestKit cluster) {
        this.bootstrapServers = bootstrapServers;
        this.directory = directory;
        this.cleanup = cleanup;
        this.cluster = cluster;
    }

    /** The cluster named by {@value #BOOTSTRAP_SERVERS_ENV}, else a new in-JVM broker. */
    public static KafkaServer start() {
        return Settings.get(BOOTSTRAP_SERVERS_ENV).map(KafkaServer::existing).orElseGet(KafkaServer::startBroker);
    }

    /** An existing cluster; {@link #close()} leaves it alone. */
    public static KafkaServer existing(String bootstrapServers) {
        return new KafkaServer(bootstrapServers, null, Cleanup.nothing("Kafka at " + bootstrapServers));
    }

    /**
     * Starts a KRaft broker in this JVM. Its listeners are bound to port 0 before the broker starts, so there is no
     * port clash to retry.
     */
    public static KafkaServer startBroker() {
        quietLogs();
        Path directory = Dirs.createTemp("flatfare-kafka-");
        KafkaClusterTestKit cluster = null;
        try {
            TestKitNodes nodes = new TestKitNodes.Builder(releasedMetadata())
                    .setCombined(true)
                    .setNumBrokerNodes(1)
                    .setNumControllerNodes(1)
                    .setBaseDirectory(directory)
                    .build();
            KafkaClusterTestKit.Builder builder = new KafkaClusterTestKit.Builder(nodes).setDeleteOnClose(true);
            BROKER_CONFIG.forEach(builder::setConfigProp);
            cluster = builder.build();
            cluster.format();
            cluster.startup();
            cluster.waitForReadyBrokers();
        } catch (Exception e) {
            closeQuietly(cluster, e);
            Dirs.delete(directory);
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new IllegalStateException("Could not start the in-JVM Kafka broker in " + directory, e);
        }
        KafkaClusterTestKit started = cluster;
        Cleanup cleanup = Cleanup.register("Kafka broker in " + directory, () -> {
            try {
                started.close();
            } finally {
                Dirs.delete(directory);
            }
        });
        return new KafkaServer(started.bootstrapServers(), directory, cleanup, started);
    }

    /**
     * Starts a KRaft broker (one node acting as broker and controller) in this JVM that keeps its logs in
     * {@code directory}: formatted on the first start, reused on later ones. It listens on 127.0.0.1:{@code port}
     * for clients and on 127.0.0.1:{@code controllerPort} for its own quorum. This is Kafka's production server
     * class ({@code KafkaRaftServer}), as {@code kafka-server-start.sh} runs it, not the test kit: the test kit
     * formats anew and picks its own ports on every start. {@link #close()} shuts it down cleanly and keeps the logs.
     */
    public static KafkaServer startPersistent(Path directory, int port, int controllerPort) {
        quietLogs();
        Path logs = directory.resolve("logs").toAbsolutePath();
        Map<String, Object> config = new HashMap<>(BROKER_CONFIG);
        config.put("process.roles", "broker,controller");
        config.put("node.id", "1");
        config.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        config.put("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
        config.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + port);
        config.put("controller.listener.names", "CONTROLLER");
        config.put("inter.broker.listener.name", "PLAINTEXT");
        config.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        config.put("log.dirs", logs.toString());
        KafkaRaftServer server;
        try {
            Files.createDirectories(logs);
            if (!Files.exists(logs.resolve("meta.properties"))) {
                new Formatter()
                        .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                        .setClusterId(Uuid.randomUuid().toString())
                        .setNodeId(1)
                        .setControllerListenerName("CONTROLLER")
                        .setMetadataLogDirectory(logs.toString())
                        .setDirectories(List.of(logs.toString()))
                        .setReleaseVersion(MetadataVersion.latestProduction())
                        .setUnstableFeatureVersionsEnabled(false)
                        .run();
            }
            server = new KafkaRaftServer(new KafkaConfig(config, false), Time.SYSTEM);
            server.startup();
        } catch (Exception e) {
            throw new IllegalStateException("Could not start the Kafka broker in " + directory, e);
        }
        String bootstrap = "127.0.0.1:" + port;
        Cleanup cleanup = Cleanup.register("Kafka broker in " + directory, () -> {
            server.shutdown();
            server.awaitShutdown();
        });
        return new KafkaServer(bootstrap, directory, cleanup);
    }

    /**
     * Stops the in-JVM broker but keeps its logs and its port, so that clients see a broker outage until
     * {@link #restart()}. The controller keeps running, as a cluster's quorum would while one broker is down.
     *
     * @throws UnsupportedOperationException for an existing cluster, which this class does not own
     */
    public void stop() {
        for (BrokerServer broker : ownCluster().brokers().values()) {
            broker.shutdown();
            broker.awaitShutdown();
        }
    }

    /**
     * Starts the broker stopped by {@link #stop()} again on the same port and log directory, and waits until it
     * serves requests; records written before the stop are still there.
     *
     * @throws UnsupportedOperationException for an existing cluster, which this class does not own
     */
    public void restart() {
        KafkaClusterTestKit own = ownCluster();
        own.brokers().values().forEach(BrokerServer::startup);
        try {
            own.waitForReadyBrokers();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while restarting the Kafka broker in " + directory, e);
        } catch (Exception e) {
            throw new IllegalStateException("Could not restart the Kafka broker in " + directory, e);
        }
    }

    /** The value for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** Where the in-JVM broker keeps its logs; empty for an existing cluster. */
    public Optional<Path> directory() {
        return Optional.ofNullable(directory);
    }

    /** The configuration a Quarkus SmallRye Kafka application needs to use this broker. */
    public Map<String, String> quarkusConfig() {
        return Map.of("kafka.bootstrap.servers", bootstrapServers);
    }

    /** Stops the in-JVM broker and deletes its directory; does nothing for an existing cluster. */
    @Override
    public void close() {
        cleanup.run();
    }

    private KafkaClusterTestKit ownCluster() {
        if (cluster == null) {
            throw new UnsupportedOperationException(
                    "Kafka at " + bootstrapServers + " is an existing cluster; only an in-JVM broker can be stopped");
        }
        return cluster;
    }

    /**
     * The metadata version and feature levels a released broker formats its storage with. The test kit's default is
     * the versions still in development, which services never meet in production.
     */
    private static BootstrapMetadata releasedMetadata() {
        MetadataVersion release = MetadataVersion.latestProduction();
        Map<String, Short> features = Feature.PRODUCTION_FEATURES.stream()
                .collect(Collectors.toMap(Feature::featureName, feature -> feature.defaultLevel(release)));
        return BootstrapMetadata.fromVersions(release, features, "flatfare-testing");
    }

    private static void quietLogs() {
        for (Logger logger : QUIETED_LOGGERS) {
            // A level set elsewhere (logging.properties, a developer debugging) wins.
            if (logger.getLevel() == null) {
                logger.setLevel(Level.WARNING);
            }
        }
    }

    private static void closeQuietly(KafkaClusterTestKit cluster, Exception failure) {
        if (cluster == null) {
            return;
        }
        try {
            cluster.close();
        } catch (Exception e) {
            failure.addSuppressed(e);
        }
    }
}
