package io.flatfare.metering.api;

import io.flatfare.metering.config.MeteringConfig;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.Response;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/**
 * Guards {@code /admin/*} with the configured bearer token: no or malformed credentials are 401, a wrong
 * token is 403. The comparison takes the same time whatever the token, so it leaks nothing.
 */
public class AdminAuthFilter {

    private final byte[] adminToken;

    AdminAuthFilter(MeteringConfig config) {
        this.adminToken = config.adminToken().getBytes(StandardCharsets.UTF_8);
    }

    @ServerRequestFilter
    public Response authenticate(ContainerRequestContext request) {
        if (!request.getUriInfo().getPath().startsWith("/admin")) {
            return null;
        }
        String header = request.getHeaderString(HttpHeaders.AUTHORIZATION);
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7) || header.length() == 7) {
            return Response.fromResponse(ApiError.response(
                            401,
                            "authentication_error",
                            "An admin token is required: send 'Authorization: Bearer <token>'.",
                            null,
                            "missing_admin_token"))
                    .header(HttpHeaders.WWW_AUTHENTICATE, "Bearer")
                    .build();
        }
        byte[] given = header.substring(7).strip().getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(given, adminToken)) {
            return ApiError.response(
                    403, "permission_error", "The admin token is not valid.", null, "invalid_admin_token");
        }
        return null;
    }
}
