package io.flatfare.metering.api;

import io.flatfare.metering.config.MeteringConfig;
import io.flatfare.support.api.ApiError;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.Response;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Map;
import java.util.stream.Collectors;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/**
 * Guards {@code /finance/*}: the finance token sees every account, an account token only its own. No,
 * malformed or unknown credentials are 401 with {@code WWW-Authenticate: Bearer}; a valid account token used
 * for another account is 403.
 *
 * <p>Tokens are compared as SHA-256 digests with {@link MessageDigest#isEqual}, and every configured token is
 * compared on every request, so neither the length nor the position of a match shows in the timing.
 */
public class FinanceAuthFilter {

    private final byte[] financeToken;
    /** Account id → digest of its token. */
    private final Map<String, byte[]> accountTokens;

    FinanceAuthFilter(MeteringConfig config) {
        this.financeToken = digest(config.financeToken());
        this.accountTokens = config.accountTokens().entrySet().stream()
                .collect(Collectors.toUnmodifiableMap(Map.Entry::getKey, e -> digest(e.getValue())));
    }

    @ServerRequestFilter
    public Response authenticate(ContainerRequestContext request) {
        if (!request.getUriInfo().getPath().startsWith("/finance")) {
            return null;
        }
        String header = request.getHeaderString(HttpHeaders.AUTHORIZATION);
        if (header == null
                || !header.regionMatches(true, 0, "Bearer ", 0, 7)
                || header.substring(7).isBlank()) {
            return unauthorized(
                    "A finance or account token is required: send 'Authorization: Bearer <token>'.", "missing_token");
        }
        byte[] given = digest(header.substring(7).strip());
        boolean finance = MessageDigest.isEqual(given, financeToken);
        String owner = null;
        for (var entry : accountTokens.entrySet()) {
            // No early exit: the loop costs the same whichever token matched.
            if (MessageDigest.isEqual(given, entry.getValue())) {
                owner = entry.getKey();
            }
        }
        if (finance) {
            return null;
        }
        if (owner == null) {
            return unauthorized("The token is not valid.", "invalid_token");
        }
        String accountId = request.getUriInfo().getPathParameters().getFirst("accountId");
        if (!owner.equals(accountId)) {
            return ApiError.response(
                    403,
                    "permission_error",
                    "This token may only read its own account's data.",
                    "account_id",
                    "account_forbidden");
        }
        return null;
    }

    private static Response unauthorized(String message, String code) {
        return Response.fromResponse(ApiError.response(401, "authentication_error", message, null, code))
                .header(HttpHeaders.WWW_AUTHENTICATE, "Bearer")
                .build();
    }

    private static byte[] digest(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
