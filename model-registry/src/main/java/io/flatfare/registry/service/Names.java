package io.flatfare.registry.service;

import java.util.regex.Pattern;

/** The shapes of ids and names the registry accepts, shared by its REST and gRPC layers. */
public final class Names {

    /** Model ids: what clients send as {@code model}; lower-case, no slashes, so they fit any URL path. */
    public static final String MODEL_ID = "^[a-z0-9][a-z0-9._:-]{0,63}$";

    /** Aliases may also use upper case and slashes, as in Hugging Face names (meta-llama/Llama-3.3-70B-Instruct). */
    public static final String ALIAS = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$";

    public static final String PRICE_TIER = "^[a-z][a-z0-9-]{0,31}$";

    public static final String INSTANCE_ID = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$";

    /** host:port, where host is a DNS name, an IPv4 address or a bracketed IPv6 address. */
    public static final Pattern GRPC_ADDRESS =
            Pattern.compile("^(\\[[0-9A-Fa-f:.]+]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?):([0-9]{1,5})$");

    private static final Pattern ALIAS_PATTERN = Pattern.compile(ALIAS);
    private static final Pattern INSTANCE_ID_PATTERN = Pattern.compile(INSTANCE_ID);

    private Names() {}

    public static boolean isAlias(String name) {
        return name != null && ALIAS_PATTERN.matcher(name).matches();
    }

    public static boolean isInstanceId(String id) {
        return id != null && INSTANCE_ID_PATTERN.matcher(id).matches();
    }

    public static boolean isGrpcAddress(String address) {
        if (address == null) {
            return false;
        }
        var m = GRPC_ADDRESS.matcher(address);
        if (!m.matches()) {
            return false;
        }
        int port = Integer.parseInt(m.group(3));
        return port >= 1 && port <= 65535;
    }
}
