package io.flatfare.support.api;

import static org.assertj.core.api.Assertions.assertThat;

import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The Allow header of a 405, read from the resources' annotations as RESTEasy matches their paths. */
class AllowedMethodsTest {

    @Path("/v1")
    static class Api {
        @POST
        @Path("/chat/completions")
        void chat() {}

        @GET
        @Path("/models")
        void models() {}

        @GET
        @Path("/models/{model: .+}")
        void model() {}

        @GET
        @Path("/responses/{id}")
        void response() {}

        @DELETE
        @Path("responses/{id}/")
        void deleteResponse() {}

        @POST
        @Path("/responses/{id}/cancel")
        void cancel() {}

        @Path("/locator")
        Object locator() {
            return null;
        }
    }

    @Path("/finance/accounts/{accountId}/")
    static class Finance {
        @GET
        void account() {}

        @PUT
        @Path("/invoices/{period: \\d{4}-\\d{2}}")
        void invoice() {}

        @GET
        @Path("/a.b")
        void dotted() {}
    }

    private final AllowedMethods allowed = AllowedMethods.of(List.of(Api.class, Finance.class));

    @Test
    void namesEveryMethodThePathIsServedWithHeadWhereGetIsAndOptions() {
        assertThat(allowed.allow("/v1/chat/completions")).hasValue("OPTIONS, POST");
        assertThat(allowed.allow("/v1/models")).hasValue("GET, HEAD, OPTIONS");
        assertThat(allowed.allow("/v1/responses/resp_1")).hasValue("DELETE, GET, HEAD, OPTIONS");
        assertThat(allowed.allow("/v1/responses/resp_1/cancel")).hasValue("OPTIONS, POST");
    }

    @Test
    void matchesTemplatesAsRestEasyDoes() {
        // A variable with its own expression, which may cross slashes or hold braces of its own.
        assertThat(allowed.allow("/v1/models/org/name")).hasValue("GET, HEAD, OPTIONS");
        assertThat(allowed.allow("/finance/accounts/acct-1/invoices/2026-11")).hasValue("OPTIONS, PUT");
        assertThat(allowed.allow("/finance/accounts/acct-1/invoices/november")).isEmpty();
        // A plain variable is one segment; literal text is literal; a trailing slash is optional on both sides.
        assertThat(allowed.allow("/v1/responses/a/b")).isEmpty();
        assertThat(allowed.allow("/finance/accounts/acct-1/a.b")).hasValue("GET, HEAD, OPTIONS");
        assertThat(allowed.allow("/finance/accounts/acct-1/aXb")).isEmpty();
        assertThat(allowed.allow("/finance/accounts/acct-1")).hasValue("GET, HEAD, OPTIONS");
        assertThat(allowed.allow("/finance/accounts/acct-1/")).hasValue("GET, HEAD, OPTIONS");
    }

    @Test
    void pathsNoMethodServesHaveNone() {
        assertThat(allowed.allow("/v1/locator")).isEmpty(); // a sub-resource locator is no method of its own
        assertThat(allowed.allow("/v1/nothing")).isEmpty();
        assertThat(allowed.allow("/")).isEmpty();
    }
}
