package io.flatfare.gateway;

import io.flatfare.support.api.MalformedUrls;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.annotations.QuarkusMain;

/** The gateway's entry point: Quarkus' own, after the settings that must precede it. */
@QuarkusMain
public class Main {

    public static void main(String... args) {
        // A malformed URL is refused in the API's error envelope, not by the HTTP layer with an empty 400.
        MalformedUrls.takeOverUriCheck();
        Quarkus.run(args);
    }
}
