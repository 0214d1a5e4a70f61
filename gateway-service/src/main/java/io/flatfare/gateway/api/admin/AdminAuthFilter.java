package io.flatfare.gateway.api.admin;

import io.flatfare.gateway.account.AccountsConfig;
import io.flatfare.support.api.BearerTokens;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.Response;
import java.nio.charset.StandardCharsets;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/** Guards {@code /admin/*} with the configured bearer token (401 without credentials, 403 with a wrong one). */
public class AdminAuthFilter {

    private final byte[] adminToken;

    AdminAuthFilter(AccountsConfig config) {
        this.adminToken = config.adminToken().getBytes(StandardCharsets.UTF_8);
    }

    @ServerRequestFilter
    public Response authenticate(ContainerRequestContext request) {
        return BearerTokens.requireAdmin(request, "/admin", adminToken);
    }
}
