package io.flatfare.launcher;

import io.flatfare.testing.support.FreePorts;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Free ports, each different: {@link FreePorts#pick()} may hand the same one out twice in a row. */
final class FreePortsForTests {

    private FreePortsForTests() {}

    static List<Integer> distinct(int count) {
        Set<Integer> ports = new LinkedHashSet<>();
        while (ports.size() < count) {
            int port = FreePorts.pick();
            ports.add(port);
        }
        return List.copyOf(ports);
    }
}
