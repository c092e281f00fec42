package io.rulesync.interop;

import com.alibaba.csp.sentinel.cluster.TokenResult;
import com.alibaba.csp.sentinel.cluster.TokenResultStatus;
import com.alibaba.csp.sentinel.cluster.client.ClientConstants;
import com.alibaba.csp.sentinel.cluster.client.DefaultClusterTokenClient;
import com.alibaba.csp.sentinel.cluster.client.config.ClusterClientAssignConfig;
import com.alibaba.csp.sentinel.cluster.client.config.ClusterClientConfig;
import com.alibaba.csp.sentinel.cluster.client.config.ClusterClientConfigManager;
import com.alibaba.csp.sentinel.cluster.registry.ConfigSupplierRegistry;
import com.alibaba.csp.sentinel.init.InitExecutor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A Java token client (sentinel-cluster-client-default) for one server and
 * namespace. Commands, each answered by one JSON line:
 * {@code flow <flowId> <count> <prioritized>},
 * {@code param <flowId> <count> <typed params JSON>} (see {@link Params}),
 * {@code load <flowId> <count> <seconds> <threads> [maxRequests]} (one line per
 * second, then a total), {@code state}, {@code stop}, {@code start}.
 */
final class TokenClientMode implements Mode {
    private final String host;
    private final int port;
    private final String namespace;
    private final int requestTimeoutMs;
    private final int awaitConnectMs;
    private DefaultClusterTokenClient client;

    TokenClientMode(Flags f) {
        host = f.get("host", "127.0.0.1");
        port = f.getInt("port", 18730);
        namespace = f.get("namespace", null);
        requestTimeoutMs = f.getInt("request-timeout-ms", 20);
        awaitConnectMs = f.getInt("await-connect-ms", 10_000);
    }

    @Override
    public void start() throws Exception {
        // The codecs register through Sentinel's init SPI, as in any app.
        InitExecutor.doInit();
        if (namespace != null) {
            ConfigSupplierRegistry.setNamespaceSupplier(() -> namespace);
        }
        ClusterClientConfigManager.applyNewConfig(new ClusterClientConfig().setRequestTimeout(requestTimeoutMs));
        ClusterClientConfigManager.applyNewAssignConfig(new ClusterClientAssignConfig(host, port));
        client = new DefaultClusterTokenClient();
        client.start();
        long deadline = System.currentTimeMillis() + awaitConnectMs;
        while (client.getState() != ClientConstants.CLIENT_STATUS_STARTED && System.currentTimeMillis() < deadline) {
            Thread.sleep(5);
        }
        Out.ready(Out.obj("mode", "token-client", "server", host + ":" + port,
            "namespace", ConfigSupplierRegistry.getNamespaceSupplier().get(),
            "requestTimeoutMs", ClusterClientConfigManager.getRequestTimeout(), "state", client.getState()));
    }

    @Override
    public void command(String line) throws Exception {
        String[] p = line.split(" ", 4);
        switch (p[0]) {
            case "flow": {
                need(p, 4, "flow <flowId> <count> <prioritized>");
                long t0 = System.nanoTime();
                TokenResult r = client.requestToken(Long.parseLong(p[1]), Integer.parseInt(p[2]), Boolean.parseBoolean(p[3]));
                result("flow", r, t0);
                return;
            }
            case "param": {
                need(p, 4, "param <flowId> <count> <typed params JSON>");
                List<Object> params = Params.parse(p[3]);
                long t0 = System.nanoTime();
                TokenResult r = client.requestParamToken(Long.parseLong(p[1]), Integer.parseInt(p[2]), params);
                result("param", r, t0);
                return;
            }
            case "load":
                load(line.split(" "));
                return;
            case "state": {
                Out.line(Out.obj("cmd", "state", "state", client.getState(), "stateName", stateName(client.getState()),
                    "server", String.valueOf(client.currentServer())));
                return;
            }
            case "stop":
                client.stop();
                Out.line(Out.obj("cmd", "stop", "state", client.getState()));
                return;
            case "start":
                client.start();
                Out.line(Out.obj("cmd", "start", "state", client.getState()));
                return;
            default:
                throw new IllegalArgumentException("unknown command: " + p[0]
                    + " (token-client knows: flow, param, load, state, stop, start)");
        }
    }

    private static String stateName(int s) {
        switch (s) {
            case ClientConstants.CLIENT_STATUS_OFF:
                return "off";
            case ClientConstants.CLIENT_STATUS_PENDING:
                return "pending";
            case ClientConstants.CLIENT_STATUS_STARTED:
                return "started";
            default:
                return "unknown";
        }
    }

    private static void need(String[] p, int n, String usage) {
        if (p.length < n) {
            throw new IllegalArgumentException("usage: " + usage);
        }
    }

    /**
     * Prints a token answer. elapsedUs is there because the Java client turns
     * a lost or late answer into FAIL after its request timeout: a FAIL that
     * took about that long was a timeout.
     */
    private static void result(String cmd, TokenResult r, long t0) {
        Out.line(Out.obj("cmd", cmd, "status", r.getStatus(), "statusName", statusName(r.getStatus()),
            "remaining", r.getRemaining(), "waitInMs", r.getWaitInMs(),
            "elapsedUs", (System.nanoTime() - t0) / 1000));
    }

    static String statusName(int s) {
        switch (s) {
            case TokenResultStatus.OK:
                return "OK";
            case TokenResultStatus.BLOCKED:
                return "BLOCKED";
            case TokenResultStatus.SHOULD_WAIT:
                return "SHOULD_WAIT";
            case TokenResultStatus.NO_RULE_EXISTS:
                return "NO_RULE_EXISTS";
            case TokenResultStatus.NO_REF_RULE_EXISTS:
                return "NO_REF_RULE_EXISTS";
            case TokenResultStatus.NOT_AVAILABLE:
                return "NOT_AVAILABLE";
            case TokenResultStatus.RELEASE_OK:
                return "RELEASE_OK";
            case TokenResultStatus.ALREADY_RELEASE:
                return "ALREADY_RELEASE";
            case TokenResultStatus.FAIL:
                return "FAIL";
            case TokenResultStatus.TOO_MANY_REQUEST:
                return "TOO_MANY_REQUEST";
            case TokenResultStatus.BAD_REQUEST:
                return "BAD_REQUEST";
            default:
                return "UNKNOWN";
        }
    }

    /**
     * Drives requestToken from several threads for a bounded time (and,
     * optionally, a bounded number of requests) and prints, per second of the
     * run, how many requests got each status.
     */
    private void load(String[] p) throws InterruptedException {
        need(p, 5, "load <flowId> <count> <seconds> <threads> [maxRequests]");
        final long flowId = Long.parseLong(p[1]);
        final int count = Integer.parseInt(p[2]);
        final int seconds = Integer.parseInt(p[3]);
        final int threads = Integer.parseInt(p[4]);
        final long max = p.length > 5 ? Long.parseLong(p[5]) : Long.MAX_VALUE;
        if (seconds <= 0 || seconds > 600 || threads <= 0 || threads > 64) {
            throw new IllegalArgumentException("load: seconds in 1..600, threads in 1..64");
        }
        // Status codes run from -4 to 7: index = status + 4.
        final AtomicLongArray[] perSecond = new AtomicLongArray[seconds];
        for (int i = 0; i < seconds; i++) {
            perSecond[i] = new AtomicLongArray(12);
        }
        final AtomicLong issued = new AtomicLong();
        final long start = System.nanoTime();
        final long end = start + seconds * 1_000_000_000L;
        final CountDownLatch done = new CountDownLatch(threads);
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread th = new Thread(() -> {
                try {
                    while (issued.incrementAndGet() <= max) {
                        long now = System.nanoTime();
                        if (now >= end) {
                            break;
                        }
                        TokenResult r = client.requestToken(flowId, count, false);
                        int sec = (int) ((System.nanoTime() - start) / 1_000_000_000L);
                        int idx = r.getStatus() + 4;
                        if (sec < seconds && idx >= 0 && idx < 12) {
                            perSecond[sec].incrementAndGet(idx);
                        }
                    }
                } finally {
                    done.countDown();
                }
            }, "interop-load-" + t);
            th.setDaemon(true);
            ts.add(th);
            th.start();
        }
        done.await();
        long[] total = new long[12];
        for (int s = 0; s < seconds; s++) {
            Map<String, Object> statuses = new TreeMap<>();
            for (int i = 0; i < 12; i++) {
                long n = perSecond[s].get(i);
                total[i] += n;
                if (n > 0) {
                    statuses.put(statusName(i - 4), n);
                }
            }
            Out.line(Out.obj("cmd", "load", "second", s, "pass", perSecond[s].get(TokenResultStatus.OK + 4),
                "block", perSecond[s].get(TokenResultStatus.BLOCKED + 4), "statuses", statuses));
        }
        Map<String, Object> statuses = new TreeMap<>();
        for (int i = 0; i < 12; i++) {
            if (total[i] > 0) {
                statuses.put(statusName(i - 4), total[i]);
            }
        }
        Out.line(Out.obj("cmd", "load", "total", true, "pass", total[TokenResultStatus.OK + 4],
            "block", total[TokenResultStatus.BLOCKED + 4], "statuses", statuses));
    }

    @Override
    public void close() {
        if (client != null) {
            try {
                client.stop();
            } catch (Exception e) {
                System.err.println("stop token client: " + e);
            }
        }
    }
}
