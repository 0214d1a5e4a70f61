package io.flatfare.gateway.api.admin;

import io.flatfare.gateway.account.AccountService;
import io.flatfare.gateway.account.AccountService.AccountChange;
import io.flatfare.gateway.account.ApiKeyEntity;
import io.flatfare.gateway.api.admin.AdminViews.AccountPatch;
import io.flatfare.gateway.api.admin.AdminViews.AccountRequest;
import io.flatfare.gateway.api.admin.AdminViews.AccountView;
import io.flatfare.gateway.api.admin.AdminViews.KeyRequest;
import io.flatfare.gateway.api.admin.AdminViews.KeyView;
import io.flatfare.gateway.api.admin.AdminViews.NewKeyView;
import io.flatfare.support.api.ListView;
import io.flatfare.support.api.PageView;
import io.flatfare.support.api.Paging;
import jakarta.validation.Valid;
import jakarta.validation.constraints.NotNull;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.PATCH;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.CacheControl;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/** Accounts and their API keys. Authentication is done by {@link AdminAuthFilter}. */
@Path("/admin/accounts")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class AccountAdminResource {

    private static final int DEFAULT_PAGE = 100;
    private static final int MAX_PAGE = 1000;

    private final AccountService accounts;

    AccountAdminResource(AccountService accounts) {
        this.accounts = accounts;
    }

    /** In id order, a page at a time: {@code limit} (1 to 1,000, 100 by default), {@code after} = the last id seen. */
    @GET
    public PageView<AccountView> list(
            @QueryParam("plan_id") String planId,
            @QueryParam("after") String after,
            @QueryParam("limit") String limit) {
        int size = Paging.size(limit, DEFAULT_PAGE, MAX_PAGE);
        // One more than is shown tells whether there is a next page, without a count query.
        List<AccountView> page =
                accounts.accounts(Optional.ofNullable(planId), Optional.ofNullable(after), size + 1).stream()
                        .map(AccountView::of)
                        .toList();
        if (page.size() <= size) {
            return PageView.of(page, null);
        }
        List<AccountView> shown = page.subList(0, size);
        return PageView.of(shown, shown.getLast().id());
    }

    @POST
    public Response create(@Valid @NotNull AccountRequest request, UriInfo uri) {
        var account = accounts.createAccount(request.id(), request.name().strip(), request.planId());
        return Response.created(uri.getAbsolutePathBuilder().path(account.id).build())
                .entity(AccountView.of(account))
                .build();
    }

    @GET
    @Path("/{id}")
    public AccountView get(@PathParam("id") String id) {
        return AccountView.of(accounts.account(id));
    }

    /** Renames the account, moves it to another plan, or disables or enables it. */
    @PATCH
    @Path("/{id}")
    @Consumes({MediaType.APPLICATION_JSON, "application/merge-patch+json"})
    public AccountView update(@PathParam("id") String id, @Valid @NotNull AccountPatch patch) {
        String name = patch.name() == null ? null : patch.name().strip();
        return AccountView.of(accounts.updateAccount(id, new AccountChange(name, patch.planId(), patch.disabled())));
    }

    @GET
    @Path("/{id}/keys")
    public ListView<KeyView> keys(@PathParam("id") String id) {
        Instant now = Instant.now();
        return ListView.of(
                accounts.keys(id).stream().map(k -> KeyView.of(k, id, now)).toList());
    }

    /** Issues a key. The answer is the only place its secret ever appears, so it must not be cached either. */
    @POST
    @Path("/{id}/keys")
    public Response createKey(@PathParam("id") String id, @Valid @NotNull KeyRequest request, UriInfo uri) {
        var issued = accounts.createKey(id, request.name().strip(), request.expiresAt());
        CacheControl noStore = new CacheControl();
        noStore.setNoStore(true);
        return Response.created(
                        uri.getAbsolutePathBuilder().path(issued.key().id).build())
                .cacheControl(noStore)
                .entity(NewKeyView.of(issued, id, Instant.now()))
                .build();
    }

    @GET
    @Path("/{id}/keys/{keyId}")
    public KeyView key(@PathParam("id") String id, @PathParam("keyId") String keyId) {
        ApiKeyEntity key = accounts.key(id, keyId);
        return KeyView.of(key, id, Instant.now());
    }

    /** Revokes the key; revoking a revoked key again answers the same. */
    @DELETE
    @Path("/{id}/keys/{keyId}")
    public KeyView revokeKey(@PathParam("id") String id, @PathParam("keyId") String keyId) {
        return KeyView.of(accounts.revokeKey(id, keyId), id, Instant.now());
    }
}
