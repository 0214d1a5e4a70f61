package io.flatfare.testing.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Local TCP ports: servers here listen on 127.0.0.1 only, so tests never expose anything to the network. */
public final class FreePorts {

    public static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    private FreePorts() {}

    /**
     * A port nothing listens on right now. Another process may take it before the server binds it, so callers retry
     * their start on a clash.
     */
    public static int pick() {
        try (ServerSocket socket = new ServerSocket(0, 1, LOOPBACK)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("Could not pick a free local port", e);
        }
    }

    /** {@code count} free ports, each different: {@link #pick()} may hand the same one out twice in a row. */
    public static List<Integer> distinct(int count) {
        Set<Integer> ports = new LinkedHashSet<>();
        while (ports.size() < count) {
            ports.add(pick());
        }
        return List.copyOf(ports);
    }

    /** Whether something accepts connections on the port. */
    public static boolean isAccepting(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(LOOPBACK, port), 1_000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
