package io.rulesync.interop;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Java Sentinel on the other side of rulesync's interop tests.
 *
 * <pre>
 * java -jar interop.jar MODE [--flag=value ...]
 * </pre>
 *
 * Modes: read, publish, token-server, token-client, command-app (see each
 * class), and warmup (used by the setup script to record a class-data archive). stdout carries only the protocol: one {@code READY <json>} line once
 * the mode is usable, then JSON object lines (results and events; errors as
 * {"event":"error"}; a start failure as {"event":"fatal"} and exit code 2).
 * Everything else goes to stderr. stdin carries one command per line; EOF,
 * {@code quit} or SIGTERM stop the program cleanly.
 *
 * Flags for every mode: --app-name (project.name), --app-type
 * (csp.sentinel.app.type), --log-dir (Sentinel's and Nacos' logs; default a new
 * temp dir), --api-port (csp.sentinel.api.port; default 8719 for command-app
 * and 0, an ephemeral port, elsewhere, because any mode that initialises
 * Sentinel starts its command center), --dashboard, --heartbeat-interval-ms,
 * --heartbeat-client-ip, and --prop key=value (any system property; repeatable).
 */
public final class Main {
    private static final AtomicBoolean CLOSED = new AtomicBoolean();

    private Main() {
    }

    public static void main(String[] args) {
        Out.init();
        if (args.length == 0 || args[0].startsWith("-")) {
            System.err.println("usage: java -jar interop.jar read|publish|token-server|token-client|command-app [--flag=value ...]");
            System.exit(2);
        }
        String modeName = args[0];
        Mode mode;
        try {
            Flags flags = Flags.parse(args, 1);
            applyCommonProperties(modeName, flags);
            mode = newMode(modeName, flags);
            flags.rejectUnused();
        } catch (Exception e) {
            fatal(e);
            return;
        }
        final Mode m = mode;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (close(m)) {
                Out.line(Out.obj("event", "exit", "reason", "signal"));
            }
        }, "interop-shutdown"));
        try {
            m.start();
        } catch (Throwable e) {
            fatal(e);
            return;
        }
        if (m instanceof WarmupMode || m instanceof PublishMode && ((PublishMode) m).oneShot()) {
            close(m);
            System.exit(0);
        }
        loop(m);
    }

    private static Mode newMode(String name, Flags f) {
        switch (name) {
            case "read":
                return new ReadMode(f);
            case "publish":
                return new PublishMode(f);
            case "token-server":
                return new TokenServerMode(f);
            case "token-client":
                return new TokenClientMode(f);
            case "command-app":
                return new CommandAppMode(f);
            case "warmup":
                return new WarmupMode(f);
            default:
                throw new IllegalArgumentException("unknown mode " + name
                    + " (want read, publish, token-server, token-client or command-app)");
        }
    }

    /**
     * Sets the system properties Sentinel reads once, when its config class
     * loads: they must be in place before any Sentinel class is touched.
     */
    private static void applyCommonProperties(String mode, Flags f) throws Exception {
        for (String kv : f.all("prop")) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("--prop wants key=value, got " + kv);
            }
            System.setProperty(kv.substring(0, eq), kv.substring(eq + 1));
        }
        String logDir = f.get("log-dir", null);
        Path dir = logDir == null ? Files.createTempDirectory("rulesync-interop-") : Paths.get(logDir);
        Files.createDirectories(dir);
        setIfAbsent("csp.sentinel.log.dir", dir.toString());
        setIfAbsent("csp.sentinel.log.use.pid", "false");
        // Nacos' client writes logs and config snapshots under the home directory unless told otherwise.
        setIfAbsent("JM.LOG.PATH", dir.resolve("nacos").toString());
        setIfAbsent("JM.SNAPSHOT.PATH", dir.resolve("nacos").toString());
        String app = f.get("app-name", null);
        if (app != null) {
            System.setProperty("project.name", app);
        }
        String appType = f.get("app-type", null);
        if (appType != null) {
            System.setProperty("csp.sentinel.app.type", appType);
        }
        System.setProperty("csp.sentinel.api.port", f.get("api-port", mode.equals("command-app") ? "8719" : "0"));
        String dashboard = f.get("dashboard", null);
        if (dashboard != null) {
            System.setProperty("csp.sentinel.dashboard.server", dashboard);
        }
        String interval = f.get("heartbeat-interval-ms", null);
        if (interval != null) {
            System.setProperty("csp.sentinel.heartbeat.interval.ms", interval);
        }
        String clientIp = f.get("heartbeat-client-ip", null);
        if (clientIp != null) {
            System.setProperty("csp.sentinel.heartbeat.client.ip", clientIp);
        }
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }

    /**
     * Waits until Sentinel's command center has bound its port (it binds on a
     * thread of its own) and returns it, or -1 when it does not within timeoutMs.
     */
    static int awaitCommandPort(long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline) {
            int p = com.alibaba.csp.sentinel.transport.config.TransportConfig.getRuntimePort();
            if (p > 0) {
                return p;
            }
            Thread.sleep(5);
        }
        return -1;
    }

    private static void loop(Mode m) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                line = line.trim();
                if (line.isEmpty()) {
                    continue;
                }
                if (line.equals("quit")) {
                    break;
                }
                try {
                    m.command(line);
                } catch (Throwable e) {
                    e.printStackTrace();
                    Out.error(e.getClass().getSimpleName() + ": " + e.getMessage());
                }
            }
        } catch (Exception e) {
            e.printStackTrace();
        }
        close(m);
        Out.line(Out.obj("event", "exit", "reason", "eof"));
        System.exit(0);
    }

    /** Closes m once; true for the call that did. */
    private static boolean close(Mode m) {
        if (CLOSED.compareAndSet(false, true)) {
            m.close();
            return true;
        }
        return false;
    }

    private static void fatal(Throwable e) {
        StringWriter sw = new StringWriter();
        e.printStackTrace(new PrintWriter(sw));
        System.err.println(sw);
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String msg = e.getClass().getSimpleName() + ": " + e.getMessage();
        if (root != e) {
            msg += " (cause: " + root.getClass().getSimpleName() + ": " + root.getMessage() + ")";
        }
        Out.line(Out.obj("event", "fatal", "message", msg));
        System.exit(2);
    }
}
