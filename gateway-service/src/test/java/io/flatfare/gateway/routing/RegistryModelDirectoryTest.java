package io.flatfare.gateway.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.flatfare.contracts.registry.v1.Capability;
import io.flatfare.testing.support.TcpProxy;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The catalog and instances as the gateway sees them, from a real model registry process. */
class RegistryModelDirectoryTest {

    private static TestRegistry registry;

    private final List<AutoCloseable> resources = new ArrayList<>();

    @BeforeAll
    static void startRegistry() {
        registry = TestRegistry.shared();
    }

    @AfterEach
    void closeResources() throws Exception {
        for (AutoCloseable resource : resources.reversed()) {
            resource.close();
        }
    }

    @Test
    void resolvesCanonicalIdsAndAliases() {
        String alias = "Org/Routing-Alias-" + System.nanoTime();
        String id = registry.createModel("directory", alias);
        registry.register(id + "-instance", "127.0.0.1:9", id);
        var directory =
                new RegistryModelDirectory(registry.stub(), TestRoutingConfig.manualRefresh(), Clock.systemUTC());

        assertThat(directory.refresh()).isTrue();

        ResolvedModel model = directory.resolve(alias).orElseThrow();
        assertThat(model.id()).isEqualTo(id);
        assertThat(model.aliases()).containsExactly(alias);
        assertThat(model.capabilities()).containsExactlyInAnyOrder(Capability.CHAT, Capability.COMPLETION);
        assertThat(model.contextLength()).isEqualTo(2048);
        assertThat(model.maxOutputTokens()).isEqualTo(256);
        assertThat(model.priceTier()).isEqualTo("small");
        assertThat(model.readyInstances()).isEqualTo(1);
        assertThat(directory.resolve(id)).contains(model);
        assertThat(directory.readyInstances(id))
                .singleElement()
                .satisfies(instance -> assertThat(instance.getGrpcAddress()).isEqualTo("127.0.0.1:9"));
        assertThat(directory.resolve("tiny").map(ResolvedModel::id)).contains("flatfare-tiny");
        assertThat(directory.list()).extracting(ResolvedModel::id).contains(id, "flatfare-tiny");
    }

    @Test
    void aModelIsAdvertisedWithTheSmallestContextItsReadyInstancesServe() {
        String id = registry.createModel("context");
        var directory =
                new RegistryModelDirectory(registry.stub(), TestRoutingConfig.manualRefresh(), Clock.systemUTC());
        assertThat(directory.refresh()).isTrue();
        assertThat(directory.resolve(id).orElseThrow().contextLength()).isEqualTo(2048); // the catalog's

        registry.register(id + "-a", "127.0.0.1:9", id, 1024);
        registry.register(id + "-b", "127.0.0.1:10", id, 1536);
        registry.register(id + "-c", "127.0.0.1:11", id, 4096); // more than the catalog's: the catalog's still holds
        assertThat(directory.refresh()).isTrue();
        assertThat(directory.resolve(id).orElseThrow().contextLength()).isEqualTo(1024);

        registry.drain(id + "-a");
        assertThat(directory.refresh()).isTrue();
        assertThat(directory.resolve(id).orElseThrow().contextLength()).isEqualTo(1536);
    }

    @Test
    void unknownNamesResolveToNothing() {
        var directory =
                new RegistryModelDirectory(registry.stub(), TestRoutingConfig.manualRefresh(), Clock.systemUTC());
        assertThat(directory.refresh()).isTrue();

        assertThat(directory.resolve("no-such-model")).isEmpty();
        assertThat(directory.resolve("no-such-model")).isEmpty();
        assertThat(directory.resolve("")).isEmpty();
    }

    @Test
    void aModelAddedAfterTheLastRefreshIsFoundOnMiss() {
        var directory =
                new RegistryModelDirectory(registry.stub(), TestRoutingConfig.manualRefresh(), Clock.systemUTC());
        assertThat(directory.refresh()).isTrue();
        String id = registry.createModel("late");

        assertThat(directory.resolve(id).map(ResolvedModel::id)).contains(id);
    }

    @Test
    void periodicRefreshSeesNewInstances() {
        var config = TestRoutingConfig.manualRefresh().withRefreshInterval(Duration.ofMillis(200));
        var directory = new RegistryModelDirectory(registry.stub(), config, Clock.systemUTC());
        directory.start();
        resources.add(directory::stop);
        String id = registry.createModel("periodic");
        await().atMost(Duration.ofSeconds(20))
                .until(
                        () -> directory.resolve(id).map(ResolvedModel::readyInstances),
                        m -> m.equals(java.util.Optional.of(0)));

        registry.register(id + "-instance", "127.0.0.1:9", id);

        await().atMost(Duration.ofSeconds(20))
                .until(() -> directory.readyInstances(id).size() == 1);
        assertThat(directory.resolve(id).orElseThrow().readyInstances()).isEqualTo(1);
    }

    @Test
    void servesTheLastGoodViewWhileTheRegistryIsBrieflyDown() {
        String id = registry.createModel("outage");
        registry.register(id + "-instance", "127.0.0.1:9", id);
        var proxy = TcpProxy.to(registry.port());
        resources.add(proxy);
        var clock = new MutableClock();
        var config = TestRoutingConfig.manualRefresh()
                .withRefreshInterval(Duration.ofSeconds(2))
                .withMaxStaleness(Duration.ofSeconds(30));
        var directory = new RegistryModelDirectory(stubThrough(proxy), config, clock);
        assertThat(directory.refresh()).isTrue();

        proxy.down();
        clock.advance(Duration.ofSeconds(10));

        assertThat(directory.refresh()).isFalse();
        assertThat(directory.resolve(id).orElseThrow().readyInstances()).isEqualTo(1);
        assertThat(directory.readyInstances(id)).hasSize(1);
        assertThat(directory.list()).extracting(ResolvedModel::id).contains(id);

        // Beyond the staleness bound the view is no longer trusted, and the registry is still down.
        clock.advance(Duration.ofSeconds(25));
        assertThatThrownBy(() -> directory.resolve(id)).isInstanceOfSatisfying(UpstreamException.class, e -> {
            assertThat(e.kind()).isEqualTo(UpstreamException.Kind.NO_INSTANCE);
            assertThat(e.retryAfter()).isPresent();
        });

        proxy.up();
        await().atMost(Duration.ofSeconds(30)).until(directory::refresh);
        assertThat(directory.resolve(id).map(ResolvedModel::id)).contains(id);
    }

    @Test
    void readinessIsDownUntilTheCatalogWasLoaded() {
        var proxy = TcpProxy.to(registry.port());
        resources.add(proxy);
        proxy.down();
        var directory =
                new RegistryModelDirectory(stubThrough(proxy), TestRoutingConfig.manualRefresh(), Clock.systemUTC());
        var health = new RegistryHealthCheck(directory);

        assertThat(directory.refresh()).isFalse();
        assertThat(health.call().getStatus()).isEqualTo(HealthCheckResponse.Status.DOWN);
        assertThatThrownBy(directory::list)
                .isInstanceOfSatisfying(
                        UpstreamException.class,
                        e -> assertThat(e.kind()).isEqualTo(UpstreamException.Kind.NO_INSTANCE));

        proxy.up();
        await().atMost(Duration.ofSeconds(30)).until(directory::refresh);

        HealthCheckResponse ready = health.call();
        assertThat(ready.getStatus()).isEqualTo(HealthCheckResponse.Status.UP);
        assertThat(ready.getData().orElseThrow()).containsKeys("models", "last_refresh_age_ms");
        assertThat((Long) ready.getData().orElseThrow().get("models")).isPositive();
    }

    private io.flatfare.contracts.registry.v1.ModelRegistryGrpc.ModelRegistryBlockingStub stubThrough(TcpProxy proxy) {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", proxy.port())
                .usePlaintext()
                .build();
        resources.add(channel::shutdownNow);
        return io.flatfare.contracts.registry.v1.ModelRegistryGrpc.newBlockingStub(channel);
    }
}
