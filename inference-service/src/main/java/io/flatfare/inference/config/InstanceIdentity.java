package io.flatfare.inference.config;

import io.quarkus.runtime.LaunchMode;
import jakarta.enterprise.context.ApplicationScoped;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.UUID;
import org.eclipse.microprofile.config.ConfigProvider;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Who this instance is to the registry: a stable id for its lifetime and the address to reach it. */
@ApplicationScoped
public class InstanceIdentity {

    private final String instanceId;
    private final InferenceConfig config;
    private final int httpPort;

    InstanceIdentity(InferenceConfig config, @ConfigProperty(name = "quarkus.http.port") int httpPort) {
        this.config = config;
        this.httpPort = httpPort;
        this.instanceId = config.instanceId()
                .orElseGet(() -> hostName() + "-" + UUID.randomUUID().toString().substring(0, 8));
    }

    public String instanceId() {
        return instanceId;
    }

    /** The configured address, else this host and the HTTP port actually bound (gRPC shares it). */
    public String advertisedAddress(int boundPort) {
        return config.advertisedAddress().orElseGet(() -> hostName() + ":" + (boundPort > 0 ? boundPort : httpPort));
    }

    /** The HTTP port this process listens on (gRPC shares it), the random one too; 0 when not known. */
    public static int boundPort() {
        String key = LaunchMode.current() == LaunchMode.TEST ? "quarkus.http.test-port" : "quarkus.http.port";
        return ConfigProvider.getConfig().getOptionalValue(key, Integer.class).orElse(0);
    }

    private static String hostName() {
        String fromEnv = System.getenv("HOSTNAME");
        if (fromEnv != null && !fromEnv.isBlank()) {
            return fromEnv;
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }
}
