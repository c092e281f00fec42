package io.rulesync.interop;

import com.alibaba.csp.sentinel.cluster.flow.rule.ClusterFlowRuleManager;
import com.alibaba.csp.sentinel.cluster.flow.rule.ClusterParamFlowRuleManager;
import com.alibaba.csp.sentinel.cluster.server.NettyTransportServer;
import com.alibaba.csp.sentinel.cluster.server.SentinelDefaultTokenServer;
import com.alibaba.csp.sentinel.cluster.server.ServerConstants;
import com.alibaba.csp.sentinel.cluster.server.command.handler.FetchClusterServerInfoCommandHandler;
import com.alibaba.csp.sentinel.cluster.server.config.ClusterServerConfigManager;
import com.alibaba.csp.sentinel.cluster.server.config.ServerFlowConfig;
import com.alibaba.csp.sentinel.cluster.server.config.ServerTransportConfig;
import com.alibaba.csp.sentinel.cluster.server.connection.ConnectionManager;
import com.alibaba.csp.sentinel.command.CommandRequest;
import com.alibaba.csp.sentinel.command.CommandResponse;
import com.alibaba.csp.sentinel.slots.block.flow.FlowRule;
import com.alibaba.csp.sentinel.slots.block.flow.param.ParamFlowRule;
import com.alibaba.fastjson.JSON;
import com.alibaba.fastjson.TypeReference;

import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A standalone Java token server (sentinel-cluster-server-default) on a given
 * port. Rules per namespace come from --flow-rules NS=FILE and
 * --param-rules NS=FILE, or at run time from {@code flow NS <json>} and
 * {@code param NS <json>}. Other commands: {@code namespaces <json array>},
 * {@code flowconfig <json>}, {@code connections}, {@code rules NS} and
 * {@code info} (Java's own cluster/server/info answer).
 */
final class TokenServerMode implements Mode {
    private final int port;
    private final int idleSeconds;
    private final Set<String> namespaces = new LinkedHashSet<>();
    private final Map<String, String> flowFiles = new LinkedHashMap<>();
    private final Map<String, String> paramFiles = new LinkedHashMap<>();
    private final ServerFlowConfig flowConfig;
    private final int startTimeoutMs;
    private SentinelDefaultTokenServer server;

    TokenServerMode(Flags f) {
        port = f.getInt("port", 18730);
        idleSeconds = f.getInt("idle-seconds", ServerTransportConfig.DEFAULT_IDLE_SECONDS);
        for (String ns : f.get("namespaces", "default").split(",")) {
            if (!ns.trim().isEmpty()) {
                namespaces.add(ns.trim());
            }
        }
        splitPairs(f.all("flow-rules"), flowFiles, "flow-rules");
        splitPairs(f.all("param-rules"), paramFiles, "param-rules");
        flowConfig = new ServerFlowConfig()
            .setExceedCount(f.getDouble("exceed-count", ServerFlowConfig.DEFAULT_EXCEED_COUNT))
            .setMaxOccupyRatio(f.getDouble("max-occupy-ratio", ServerFlowConfig.DEFAULT_MAX_OCCUPY_RATIO))
            .setIntervalMs(f.getInt("interval-ms", ServerFlowConfig.DEFAULT_INTERVAL_MS))
            .setSampleCount(f.getInt("sample-count", ServerFlowConfig.DEFAULT_SAMPLE_COUNT))
            .setMaxAllowedQps(f.getDouble("max-allowed-qps", ServerFlowConfig.DEFAULT_MAX_ALLOWED_QPS));
        startTimeoutMs = f.getInt("start-timeout-ms", 30_000);
    }

    private static void splitPairs(List<String> values, Map<String, String> into, String flag) {
        for (String v : values) {
            int eq = v.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("--" + flag + " wants NAMESPACE=FILE, got " + v);
            }
            into.put(v.substring(0, eq), v.substring(eq + 1));
        }
    }

    @Override
    public void start() throws Exception {
        // Same order as Sentinel's standalone server demo: transport, namespaces, flow config, then rules.
        ClusterServerConfigManager.loadGlobalTransportConfig(new ServerTransportConfig()
            .setPort(port).setIdleSeconds(idleSeconds));
        ClusterServerConfigManager.loadServerNamespaceSet(new LinkedHashSet<>(namespaces));
        ClusterServerConfigManager.loadGlobalFlowConfig(flowConfig);
        for (Map.Entry<String, String> e : flowFiles.entrySet()) {
            loadFlow(e.getKey(), read(e.getValue()));
        }
        for (Map.Entry<String, String> e : paramFiles.entrySet()) {
            loadParam(e.getKey(), read(e.getValue()));
        }
        server = new SentinelDefaultTokenServer();
        server.start();
        awaitBound();
        Out.ready(Out.obj("mode", "token-server", "port", port, "commandPort", Main.awaitCommandPort(10_000),
            "namespaces", ClusterServerConfigManager.getNamespaceSet()));
    }

    /**
     * The Netty server binds in the background and retries a taken port three
     * times without telling anyone; its state is the only sign of success.
     */
    private void awaitBound() throws Exception {
        Field f = SentinelDefaultTokenServer.class.getDeclaredField("server");
        f.setAccessible(true);
        long deadline = System.currentTimeMillis() + startTimeoutMs;
        while (System.currentTimeMillis() < deadline) {
            Object inner = f.get(server);
            if (inner instanceof NettyTransportServer
                && ((NettyTransportServer) inner).getCurrentState() == ServerConstants.SERVER_STATUS_STARTED) {
                return;
            }
            Thread.sleep(10);
        }
        throw new IllegalStateException("token server did not bind port " + port + " within " + startTimeoutMs
            + " ms (see the Sentinel record log)");
    }

    private static String read(String file) throws Exception {
        return new String(Files.readAllBytes(Paths.get(file)), StandardCharsets.UTF_8);
    }

    private static void loadFlow(String ns, String json) {
        List<FlowRule> rules = JSON.parseObject(json, new TypeReference<List<FlowRule>>() {
        });
        ClusterFlowRuleManager.loadRules(ns, rules == null ? new ArrayList<>() : rules);
    }

    private static void loadParam(String ns, String json) {
        List<ParamFlowRule> rules = JSON.parseObject(json, new TypeReference<List<ParamFlowRule>>() {
        });
        ClusterParamFlowRuleManager.loadRules(ns, rules == null ? new ArrayList<>() : rules);
    }

    private static void requireNamespace(String ns) {
        if (!ClusterServerConfigManager.getNamespaceSet().contains(ns)) {
            throw new IllegalArgumentException("namespace " + ns + " is not served (served: "
                + ClusterServerConfigManager.getNamespaceSet() + "); rules for it would be dropped");
        }
    }

    @Override
    public void command(String line) {
        String[] p = line.split(" ", 3);
        switch (p[0]) {
            case "flow":
            case "param": {
                if (p.length < 3) {
                    throw new IllegalArgumentException(p[0] + " NAMESPACE <json array>");
                }
                requireNamespace(p[1]);
                if (p[0].equals("flow")) {
                    loadFlow(p[1], p[2]);
                } else {
                    loadParam(p[1], p[2]);
                }
                rules(p[1]);
                return;
            }
            case "rules":
                if (p.length < 2) {
                    throw new IllegalArgumentException("rules NAMESPACE");
                }
                rules(p[1]);
                return;
            case "namespaces": {
                String json = line.substring("namespaces".length()).trim();
                List<String> set = JSON.parseArray(json, String.class);
                ClusterServerConfigManager.loadServerNamespaceSet(new LinkedHashSet<>(set));
                Out.line(Out.obj("cmd", "namespaces", "namespaces", ClusterServerConfigManager.getNamespaceSet()));
                return;
            }
            case "flowconfig": {
                ServerFlowConfig c = JSON.parseObject(line.substring("flowconfig".length()).trim(), ServerFlowConfig.class);
                ClusterServerConfigManager.loadGlobalFlowConfig(c);
                info("flowconfig");
                return;
            }
            case "connections": {
                Map<String, Object> counts = new LinkedHashMap<>();
                for (String ns : ClusterServerConfigManager.getNamespaceSet()) {
                    counts.put(ns, ConnectionManager.getConnectedCount(ns));
                }
                Out.line(Out.obj("cmd", "connections", "connected", counts));
                return;
            }
            case "info":
                info("info");
                return;
            default:
                throw new IllegalArgumentException("unknown command: " + p[0]
                    + " (token-server knows: flow, param, rules, namespaces, flowconfig, connections, info)");
        }
    }

    private static void rules(String ns) {
        Map<String, Object> m = Out.obj("cmd", "rules", "namespace", ns);
        m.put("flowIds", ClusterFlowRuleManager.getFlowIdSet(ns));
        m.put("paramFlowIds", ClusterParamFlowRuleManager.getFlowIdSet(ns));
        m.put("flow", ClusterFlowRuleManager.getFlowRules(ns));
        m.put("param", ClusterParamFlowRuleManager.getParamRules(ns));
        Out.line(m);
    }

    private static void info(String cmd) {
        CommandResponse<String> r = new FetchClusterServerInfoCommandHandler().handle(new CommandRequest());
        Out.lineWithRaw(Out.obj("cmd", cmd), "info", r.getResult());
    }

    @Override
    public void close() {
        if (server != null) {
            try {
                server.stop();
            } catch (Exception e) {
                System.err.println("stop token server: " + e);
            }
        }
    }
}
