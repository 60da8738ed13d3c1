package chainmatch.neo4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

/**
 * Runs the Neo4j Community database in this JVM and exposes it over Bolt, the way Neo4j's Java
 * reference ("Using Neo4j embedded in Java applications", Bolt connector) shows.
 *
 * <p>Arguments: {@code --data DIR --host HOST --port PORT [--password PW] [--pagecache MB]}.
 * With a password, authentication is enabled and the {@code neo4j} user gets that password;
 * without one, authentication is off (local development only). The process prints
 * {@code READY bolt://HOST:PORT} once Bolt accepts connections and shuts the database down
 * cleanly on SIGTERM.
 */
public final class Launcher {

    private Launcher() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = parse(args);
        Path data = Path.of(opts.getOrDefault("--data", "instance/neo4j")).toAbsolutePath();
        String host = opts.getOrDefault("--host", "127.0.0.1");
        int port = Integer.parseInt(opts.getOrDefault("--port", "7687"));
        String password = opts.get("--password");
        long pageCacheMb = Long.parseLong(opts.getOrDefault("--pagecache", "512"));
        Files.createDirectories(data);

        DatabaseManagementService service = new DatabaseManagementServiceBuilder(data)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress(host, port))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, password != null)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pageCacheMb))
                .setConfig(GraphDatabaseSettings.transaction_timeout, Duration.ofMinutes(10))
                .build();

        if (password != null) {
            try {
                GraphDatabaseService system =
                        service.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
                system.executeTransactionally(
                        "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED",
                        Map.of("pw", password));
            } catch (RuntimeException e) {
                // On a restart the stored password is usually the one asked for already.
                if (!String.valueOf(e.getMessage()).contains("cannot be the same")) {
                    System.err.println("ERROR could not set the neo4j password: " + e.getMessage());
                    service.shutdown();
                    System.exit(1);
                }
            }
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            service.shutdown();
            stopped.countDown();
        }, "neo4j-shutdown"));

        System.out.println("READY bolt://" + host + ":" + port + " data=" + data);
        System.out.flush();
        stopped.await();
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> out = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                System.err.println("usage: Launcher --data DIR --host HOST --port PORT"
                        + " [--password PW] [--pagecache MB]");
                System.exit(2);
            }
            out.put(args[i], args[++i]);
        }
        return out;
    }
}
