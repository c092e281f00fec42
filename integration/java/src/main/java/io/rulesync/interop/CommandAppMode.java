package io.rulesync.interop;

import com.alibaba.csp.sentinel.Entry;
import com.alibaba.csp.sentinel.EntryType;
import com.alibaba.csp.sentinel.SphU;
import com.alibaba.csp.sentinel.Tracer;
import com.alibaba.csp.sentinel.context.ContextUtil;
import com.alibaba.csp.sentinel.init.InitExecutor;
import com.alibaba.csp.sentinel.slots.block.BlockException;
import com.alibaba.csp.sentinel.transport.config.TransportConfig;
import com.alibaba.csp.sentinel.util.AppNameUtil;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A Java Sentinel app with the simple-http command API (and, with
 * --dashboard, heartbeats). Rules come from --rules FAMILY=FILE (repeatable)
 * or at run time from {@code rules <family> <json>}; {@code get <family>}
 * prints what the manager holds; traffic comes from
 * {@code entry <resource> <n> [origin=O] [context=C] [type=in|out]
 * [resourceType=N] [batch=N] [rtMs=N] [error=true] [params=<typed JSON>]}.
 */
final class CommandAppMode implements Mode {
    private final List<String> ruleFiles;

    CommandAppMode(Flags f) {
        ruleFiles = f.all("rules");
    }

    @Override
    public void start() throws Exception {
        for (String spec : ruleFiles) {
            int eq = spec.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("--rules wants FAMILY=FILE, got " + spec);
            }
            RuleFamily fam = RuleFamily.of(spec.substring(0, eq));
            String json = new String(Files.readAllBytes(Paths.get(spec.substring(eq + 1))), StandardCharsets.UTF_8);
            fam.load(fam.parse(json));
        }
        // What a Sentinel app does on its first entry, done eagerly: starts the
        // command center and the heartbeat sender.
        InitExecutor.doInit();
        int port = Main.awaitCommandPort(30_000);
        if (port <= 0) {
            throw new IllegalStateException("command center did not bind (csp.sentinel.api.port="
                + TransportConfig.getPort() + ")");
        }
        Out.ready(Out.obj("mode", "command-app", "apiPort", port, "app", AppNameUtil.getAppName(),
            "appType", com.alibaba.csp.sentinel.config.SentinelConfig.getAppType(),
            "dashboard", com.alibaba.csp.sentinel.config.SentinelConfig.getConfig(TransportConfig.CONSOLE_SERVER)));
    }

    @Override
    public void command(String line) throws Exception {
        String[] p = line.split(" ", 3);
        switch (p[0]) {
            case "rules": {
                if (p.length < 3) {
                    throw new IllegalArgumentException("usage: rules <family> <json>");
                }
                RuleFamily fam = RuleFamily.of(p[1]);
                fam.load(fam.parse(p[2]));
                get(fam);
                return;
            }
            case "get":
                if (p.length < 2) {
                    throw new IllegalArgumentException("usage: get <family>");
                }
                get(RuleFamily.of(p[1]));
                return;
            case "entry":
                entry(line.split(" "));
                return;
            default:
                throw new IllegalArgumentException("unknown command: " + p[0] + " (command-app knows: rules, get, entry)");
        }
    }

    private static void get(RuleFamily fam) {
        Map<String, Object> m = Out.obj("cmd", "get", "family", fam.id);
        Map<String, Object> extra = fam.extra();
        if (extra != null) {
            m.putAll(extra);
        }
        Out.lineWithRaw(m, "rules", fam.rulesJson());
    }

    private static void entry(String[] p) throws InterruptedException {
        if (p.length < 3) {
            throw new IllegalArgumentException("usage: entry <resource> <n> [key=value ...]");
        }
        String resource = p[1];
        int n = Integer.parseInt(p[2]);
        String origin = null;
        String context = null;
        EntryType type = EntryType.OUT;
        Integer resourceType = null;
        int batch = 1;
        long rtMs = 0;
        boolean error = false;
        Object[] args = new Object[0];
        for (int i = 3; i < p.length; i++) {
            int eq = p[i].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("entry option " + p[i] + ": want key=value");
            }
            String k = p[i].substring(0, eq);
            String v = p[i].substring(eq + 1);
            switch (k) {
                case "origin":
                    origin = v;
                    break;
                case "context":
                    context = v;
                    break;
                case "type":
                    if (!v.equals("in") && !v.equals("out")) {
                        throw new IllegalArgumentException("type: in or out");
                    }
                    type = v.equals("in") ? EntryType.IN : EntryType.OUT;
                    break;
                case "resourceType":
                    resourceType = Integer.parseInt(v);
                    break;
                case "batch":
                    batch = Integer.parseInt(v);
                    break;
                case "rtMs":
                    rtMs = Long.parseLong(v);
                    break;
                case "error":
                    error = Boolean.parseBoolean(v);
                    break;
                case "params":
                    args = Params.parse(v).toArray();
                    break;
                default:
                    throw new IllegalArgumentException("unknown entry option " + k
                        + " (origin, context, type, resourceType, batch, rtMs, error, params)");
            }
        }
        if (resourceType != null && batch != 1) {
            throw new IllegalArgumentException("resourceType works with batch=1 only (SphU has no such overload)");
        }
        if (origin != null && context == null) {
            context = "interop_context";
        }
        long pass = 0;
        long block = 0;
        Map<String, Long> blockedBy = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            if (context != null) {
                ContextUtil.enter(context, origin == null ? "" : origin);
            }
            Entry e = null;
            try {
                e = resourceType != null ? SphU.entry(resource, resourceType, type, args)
                    : SphU.entry(resource, type, batch, args);
                pass++;
                if (rtMs > 0) {
                    Thread.sleep(rtMs);
                }
                if (error) {
                    Tracer.traceEntry(new IllegalStateException("interop error"), e);
                }
            } catch (BlockException b) {
                block++;
                blockedBy.merge(b.getClass().getSimpleName(), 1L, Long::sum);
            } finally {
                if (e != null) {
                    e.exit(batch, args);
                }
                if (context != null) {
                    ContextUtil.exit();
                }
            }
        }
        Out.line(Out.obj("cmd", "entry", "resource", resource, "pass", pass, "block", block, "blockedBy", blockedBy));
    }

    @Override
    public void close() {
        // The command center's threads are daemons; the JVM exit takes them.
    }
}
