package io.flatfare.gateway.api;

import io.flatfare.gateway.service.V1Call;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.ws.rs.NameBinding;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/**
 * Marks the endpoints whose admission is asked for as soon as the request's key is known: the generating ones, which
 * admit on the event loop. The round trip to the shared limits in Redis then runs while the framework reads the body
 * and the endpoint checks it, instead of after (see {@link V1Guard#admitEarly}).
 */
@NameBinding
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.TYPE, ElementType.METHOD})
public @interface AdmitEarly {

    /** The filter bound to the marked endpoints; it runs after {@link V1Calls#begin} started the call. */
    @ApplicationScoped
    class Filter {

        private final V1Calls calls;
        private final V1Guard guard;

        Filter(V1Calls calls, V1Guard guard) {
            this.calls = calls;
            this.guard = guard;
        }

        @AdmitEarly
        @ServerRequestFilter(nonBlocking = true, priority = 20)
        public void admit(RoutingContext context) {
            V1Call call = calls.of(context);
            guard.admitEarly(call, context.request().getHeader("Authorization"));
        }
    }
}
