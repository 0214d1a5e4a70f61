package io.flatfare.support;

import io.flatfare.support.api.MalformedUrls;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.annotations.QuarkusMain;

/**
 * The entry point of every service that uses this module (gateway, registry, metering): Quarkus' own, after the
 * settings that must precede it. Quarkus finds it in this bean archive's index.
 */
@QuarkusMain
public class ServiceMain {

    public static void main(String... args) {
        // A malformed URL is refused in the API's error envelope, not by the HTTP layer with an empty 400.
        MalformedUrls.takeOverUriCheck();
        Quarkus.run(args);
    }
}
