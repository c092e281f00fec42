package io.rulesync.interop;

import com.alibaba.csp.sentinel.cluster.TokenResult;
import com.alibaba.csp.sentinel.cluster.client.ClientConstants;
import com.alibaba.csp.sentinel.cluster.client.DefaultClusterTokenClient;
import com.alibaba.csp.sentinel.cluster.client.config.ClusterClientAssignConfig;
import com.alibaba.csp.sentinel.cluster.client.config.ClusterClientConfig;
import com.alibaba.csp.sentinel.cluster.client.config.ClusterClientConfigManager;
import com.alibaba.csp.sentinel.cluster.flow.rule.ClusterFlowRuleManager;
import com.alibaba.csp.sentinel.cluster.flow.rule.ClusterParamFlowRuleManager;
import com.alibaba.csp.sentinel.cluster.registry.ConfigSupplierRegistry;
import com.alibaba.csp.sentinel.cluster.server.SentinelDefaultTokenServer;
import com.alibaba.csp.sentinel.cluster.server.config.ClusterServerConfigManager;
import com.alibaba.csp.sentinel.cluster.server.config.ServerTransportConfig;
import com.alibaba.csp.sentinel.init.InitExecutor;
import com.alibaba.csp.sentinel.slots.block.flow.ClusterFlowConfig;
import com.alibaba.csp.sentinel.slots.block.flow.FlowRule;
import com.alibaba.csp.sentinel.slots.block.flow.param.ParamFlowClusterConfig;
import com.alibaba.csp.sentinel.slots.block.flow.param.ParamFlowRule;

import java.net.ServerSocket;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Runs a little of every mode without any outside server (a token server
 * and client talking to each other, every rule family's parser, the
 * datasource client classes), so that a JVM started with
 * -XX:ArchiveClassesAtExit records a class-data archive the other modes
 * start faster with. scripts/setup-java.sh runs it once per build.
 */
final class WarmupMode implements Mode {
    private static final String[] CLASSES = {
        "io.lettuce.core.RedisClient", "io.lettuce.core.pubsub.StatefulRedisPubSubConnectionImpl",
        "io.etcd.jetcd.Client", "io.grpc.netty.NettyChannelBuilder",
        "com.alibaba.nacos.client.config.NacosConfigService", "com.ecwid.consul.v1.ConsulClient",
        "com.alibaba.csp.sentinel.datasource.redis.RedisDataSource",
        "com.alibaba.csp.sentinel.datasource.etcd.EtcdDataSource",
        "com.alibaba.csp.sentinel.datasource.nacos.NacosDataSource",
        "com.alibaba.csp.sentinel.datasource.consul.ConsulDataSource",
    };

    WarmupMode(Flags f) {
    }

    @Override
    public void start() throws Exception {
        InitExecutor.doInit();
        String sample = "[{\"resource\":\"a\",\"count\":1,\"paramIdx\":0,\"timeWindow\":1,\"limitApp\":\"x\","
            + "\"apiName\":\"a\",\"predicateItems\":[{\"pattern\":\"/a\"}]}]";
        for (RuleFamily fam : RuleFamily.values()) {
            fam.load(fam.parse(sample));
            fam.rulesJson();
            fam.extra();
        }
        for (String c : CLASSES) {
            try {
                Class.forName(c, false, WarmupMode.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                System.err.println("warmup: " + c + " missing");
            }
        }
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        ClusterServerConfigManager.loadGlobalTransportConfig(new ServerTransportConfig().setPort(port).setIdleSeconds(600));
        ClusterServerConfigManager.loadServerNamespaceSet(Collections.singleton("warmup"));
        FlowRule fr = new FlowRule("a").setCount(100).setClusterMode(true)
            .setClusterConfig(new ClusterFlowConfig().setFlowId(1L).setThresholdType(1));
        ClusterFlowRuleManager.loadRules("warmup", Collections.singletonList(fr));
        ParamFlowRule pr = new ParamFlowRule("a").setParamIdx(0).setCount(100).setClusterMode(true)
            .setClusterConfig(new ParamFlowClusterConfig().setFlowId(2L).setThresholdType(1));
        ClusterParamFlowRuleManager.loadRules("warmup", Collections.singletonList(pr));
        SentinelDefaultTokenServer server = new SentinelDefaultTokenServer();
        server.start();
        ConfigSupplierRegistry.setNamespaceSupplier(() -> "warmup");
        ClusterClientConfigManager.applyNewConfig(new ClusterClientConfig().setRequestTimeout(1000));
        ClusterClientConfigManager.applyNewAssignConfig(new ClusterClientAssignConfig("127.0.0.1", port));
        DefaultClusterTokenClient client = new DefaultClusterTokenClient();
        client.start();
        long deadline = System.currentTimeMillis() + 10_000;
        TokenResult r = null;
        while (System.currentTimeMillis() < deadline) {
            if (client.getState() == ClientConstants.CLIENT_STATUS_STARTED) {
                r = client.requestToken(1L, 1, false);
                List<Object> params = Arrays.asList("a", 1, 2L, 1.5d, true);
                client.requestParamToken(2L, 1, params);
                if (r.getStatus() == 0) {
                    break;
                }
            }
            Thread.sleep(20);
        }
        client.stop();
        server.stop();
        Out.line(Out.obj("event", "warmup", "tokenStatus", r == null ? null : r.getStatus()));
    }

    @Override
    public void command(String line) {
    }

    @Override
    public void close() {
    }
}
