package io.flatfare.testing.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The proxy's three states against a real echo server: forwarding, down, and stalled. */
class TcpProxyTest {

    private final BlockingQueue<Socket> echoEnded = new LinkedBlockingQueue<>();
    private ServerSocket echo;
    private TcpProxy proxy;

    @BeforeEach
    void start() throws IOException {
        echo = new ServerSocket(0);
        Thread.ofVirtual().start(() -> {
            while (!echo.isClosed()) {
                try {
                    Socket client = echo.accept();
                    Thread.ofVirtual().start(() -> {
                        try (client) {
                            client.getInputStream().transferTo(client.getOutputStream());
                        } catch (IOException e) {
                            // the test closed it
                        } finally {
                            echoEnded.add(client);
                        }
                    });
                } catch (IOException e) {
                    return;
                }
            }
        });
        proxy = TcpProxy.to(echo.getLocalPort());
    }

    @AfterEach
    void stop() throws IOException {
        proxy.close();
        echo.close();
    }

    @Test
    void aStalledProxyHoldsBytesOnOpenAndNewConnectionsUntilResumed() throws IOException {
        try (Socket open = connect()) {
            assertThat(roundTrip(open, "before")).isEqualTo("before");

            proxy.stall();
            try (Socket fresh = connect()) {
                send(open, "held");
                send(fresh, "also");
                assertNothingArrives(open);
                assertNothingArrives(fresh);

                proxy.resume();
                assertThat(read(open, 4)).isEqualTo("held");
                assertThat(read(fresh, 4)).isEqualTo("also");
            }
        }
    }

    @Test
    void aBlackHoleHoldsTheOpenConnectionsForGoodWhileNewOnesFlow() throws IOException {
        try (Socket open = connect()) {
            assertThat(roundTrip(open, "before")).isEqualTo("before");

            proxy.blackHoleOpenConnections();
            send(open, "lost");
            assertNothingArrives(open);
            try (Socket fresh = connect()) {
                assertThat(roundTrip(fresh, "fresh")).isEqualTo("fresh");
            }
            proxy.resume();
            assertNothingArrives(open);

            proxy.down();
            // The held connection is reset like any other.
            try {
                assertThat(open.getInputStream().read()).isEqualTo(-1);
            } catch (SocketException e) {
                assertThat(e).hasMessageContaining("reset");
            }
        }
    }

    @Test
    void aBlackHoleCarriesNoCloseEither() throws Exception {
        try (Socket open = connect()) {
            assertThat(roundTrip(open, "before")).isEqualTo("before");
            proxy.blackHoleOpenConnections();
        }
        // The echo server would end its side on seeing ours close.
        assertThat(echoEnded.poll(500, TimeUnit.MILLISECONDS)).isNull();
        proxy.down();
        assertThat(echoEnded.poll(5, TimeUnit.SECONDS)).isNotNull();
    }

    @Test
    void aProxyDownResetsItsConnectionsAndComesBackOnTheSamePort() throws IOException {
        int port = proxy.port();
        try (Socket open = connect()) {
            proxy.down();
            // Reset: the read ends (end of stream or "connection reset"), it does not wait for data that never comes.
            try {
                assertThat(open.getInputStream().read()).isEqualTo(-1);
            } catch (SocketTimeoutException e) {
                throw new AssertionError("the connection was left open", e);
            } catch (SocketException e) {
                assertThat(e).hasMessageContaining("reset");
            }
        }
        proxy.up();
        assertThat(proxy.port()).isEqualTo(port);
        try (Socket again = connect()) {
            assertThat(roundTrip(again, "back")).isEqualTo("back");
        }
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket("127.0.0.1", proxy.port());
        socket.setSoTimeout(5_000);
        return socket;
    }

    private static String roundTrip(Socket socket, String text) throws IOException {
        send(socket, text);
        return read(socket, text.length());
    }

    private static void send(Socket socket, String text) throws IOException {
        socket.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
        socket.getOutputStream().flush();
    }

    private static String read(Socket socket, int length) throws IOException {
        InputStream in = socket.getInputStream();
        return new String(in.readNBytes(length), StandardCharsets.US_ASCII);
    }

    private static void assertNothingArrives(Socket socket) throws IOException {
        socket.setSoTimeout(300);
        assertThatThrownBy(() -> socket.getInputStream().read()).isInstanceOf(SocketTimeoutException.class);
        socket.setSoTimeout(5_000);
    }
}
