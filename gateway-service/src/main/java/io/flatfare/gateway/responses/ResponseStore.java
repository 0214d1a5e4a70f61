package io.flatfare.gateway.responses;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flatfare.support.api.Storable;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.jboss.logging.Logger;

/**
 * Stored responses in the gateway's PostgreSQL ({@code stored_responses}), always read and written for one account:
 * another account's id is not found, like an unknown one. Calls block on the database: never on an event loop.
 */
@ApplicationScoped
public class ResponseStore {

    private static final Logger LOG = Logger.getLogger(ResponseStore.class);
    private static final TypeReference<List<StoredResponse.Turn>> TURNS = new TypeReference<>() {};

    private final DataSource database;
    private final ObjectMapper json;
    private final ResponsesConfig config;
    private final Clock clock = Clock.systemUTC();
    private ScheduledExecutorService purger;

    public ResponseStore(DataSource database, ObjectMapper json, ResponsesConfig config) {
        this.database = database;
        this.json = json;
        this.config = config;
    }

    void onStart(@Observes StartupEvent event) {
        if (!config.store()) {
            return;
        }
        purger = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "stored-responses-purge");
            thread.setDaemon(true);
            return thread;
        });
        long period = config.purgeInterval().toMillis();
        purger.scheduleWithFixedDelay(
                () -> {
                    try {
                        int purged = purgeExpired(clock.instant());
                        if (purged > 0) {
                            LOG.infof("Deleted %d stored responses past their retention", purged);
                        }
                    } catch (RuntimeException e) {
                        LOG.warnf(
                                "Deleting expired stored responses failed (tried again in %s): %s",
                                config.purgeInterval(), e);
                    }
                },
                period,
                period,
                TimeUnit.MILLISECONDS);
    }

    @PreDestroy
    void stop() {
        if (purger != null) {
            purger.shutdownNow();
        }
    }

    /** Whether requests that do not say {@code "store": false} are stored. */
    public boolean enabled() {
        return config.store();
    }

    /** When a response stored now expires. */
    public Instant expiryOf(Instant createdAt) {
        return createdAt.plus(config.retention());
    }

    /**
     * Stores a response, visible to every replica once this returns, in one round trip. The commit does not wait for
     * the write-ahead log to reach the disk: {@code set_config(..., true)} sets {@code synchronous_commit = off} for
     * this statement's own transaction only, and PostgreSQL reads it when that transaction commits. What a database
     * crash could lose is the last fraction of a second of stored responses, never an answer or its billing; the
     * wait it saves is most of what a store added to each answer.
     */
    public void save(StoredResponse r) {
        String sql = "with relaxed as (select set_config('synchronous_commit', 'off', true))"
                + " insert into stored_responses (id, account_id, created_at, expires_at, response, input_items, context)"
                + " select ?, ?, ?, ?, ?::json, ?::json, ?::json from relaxed";
        String response = write(r.response());
        String inputItems = write(r.inputItems());
        String context = write(r.context());
        try (Timed c = connect();
                PreparedStatement s = c.connection().prepareStatement(sql)) {
            s.setString(1, r.id());
            s.setString(2, r.accountId());
            s.setTimestamp(3, Timestamp.from(r.createdAt()));
            s.setTimestamp(4, Timestamp.from(r.expiresAt()));
            s.setString(5, response);
            s.setString(6, inputItems);
            s.setString(7, context);
            if (s.executeUpdate() != 1) {
                throw new ResponseStoreUnavailableException("Storing response " + r.id() + " inserted no row");
            }
        } catch (SQLException e) {
            throw new ResponseStoreUnavailableException("Storing response " + r.id() + " failed" + sqlState(e));
        }
    }

    /** The account's response with this id, unless it expired or was deleted. */
    public Optional<StoredResponse> find(String accountId, String id) {
        if (!Storable.text(id)) {
            return Optional.empty(); // no stored id has a NUL, and PostgreSQL cannot even compare one
        }
        String sql = "select id, account_id, created_at, expires_at, response, input_items, context"
                + " from stored_responses where id = ? and account_id = ? and expires_at > ?";
        try (Timed c = connect();
                PreparedStatement s = c.connection().prepareStatement(sql)) {
            s.setString(1, id);
            s.setString(2, accountId);
            s.setTimestamp(3, Timestamp.from(clock.instant()));
            try (ResultSet rows = s.executeQuery()) {
                if (!rows.next()) {
                    return Optional.empty();
                }
                return Optional.of(new StoredResponse(
                        rows.getString(1),
                        rows.getString(2),
                        rows.getTimestamp(3).toInstant(),
                        rows.getTimestamp(4).toInstant(),
                        (ObjectNode) json.readTree(rows.getString(5)),
                        (ArrayNode) json.readTree(rows.getString(6)),
                        json.readValue(rows.getString(7), TURNS)));
            }
        } catch (SQLException e) {
            throw new ResponseStoreUnavailableException("Reading response " + id + " failed" + sqlState(e));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Deletes the account's response; false when there was none (or it had expired). */
    public boolean delete(String accountId, String id) {
        if (!Storable.text(id)) {
            return false;
        }
        String sql = "delete from stored_responses where id = ? and account_id = ? and expires_at > ?";
        try (Timed c = connect();
                PreparedStatement s = c.connection().prepareStatement(sql)) {
            s.setString(1, id);
            s.setString(2, accountId);
            s.setTimestamp(3, Timestamp.from(clock.instant()));
            return s.executeUpdate() > 0;
        } catch (SQLException e) {
            throw new ResponseStoreUnavailableException("Deleting response " + id + " failed" + sqlState(e));
        }
    }

    /** Deletes every response that expired before {@code now}; the number deleted. */
    public int purgeExpired(Instant now) {
        try (Connection c = database.getConnection();
                PreparedStatement s = c.prepareStatement("delete from stored_responses where expires_at <= ?")) {
            s.setTimestamp(1, Timestamp.from(now));
            return s.executeUpdate();
        } catch (SQLException e) {
            throw new ResponseStoreUnavailableException("Purging expired responses failed" + sqlState(e));
        }
    }

    /**
     * A pooled connection that waits at most {@code database-timeout} for each answer of the database: a frozen server
     * or a lost network fails the call instead of holding the answer it belongs to.
     */
    private Timed connect() throws SQLException {
        Connection c = database.getConnection();
        try {
            int poolTimeout = c.getNetworkTimeout();
            c.setNetworkTimeout(
                    Runnable::run, Math.toIntExact(config.databaseTimeout().toMillis()));
            return new Timed(c, poolTimeout);
        } catch (SQLException | RuntimeException e) {
            c.close();
            throw e;
        }
    }

    /**
     * A connection with this store's network timeout, which closing gives back to the pool with the pool's own again:
     * the pool keeps a connection's network timeout (Agroal resets auto-commit, isolation and read-only only), so a
     * key lookup or an admin query on it later would otherwise wait ours instead of the datasource's.
     */
    private record Timed(Connection connection, int poolTimeout) implements AutoCloseable {
        @Override
        public void close() throws SQLException {
            try {
                connection.setNetworkTimeout(Runnable::run, poolTimeout);
            } catch (SQLException e) {
                // A connection that failed is discarded by the pool; its timeout no longer matters.
            } finally {
                connection.close();
            }
        }
    }

    /**
     * What may be logged of a database failure: its SQL state. The driver's message can quote the statement's data,
     * which holds prompts and completions.
     */
    private static String sqlState(SQLException e) {
        return " (SQL state " + e.getSQLState() + ")";
    }

    private String write(Object value) {
        try {
            return json.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
