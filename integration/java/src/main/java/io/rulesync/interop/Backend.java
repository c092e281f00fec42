package io.rulesync.interop;

import com.alibaba.csp.sentinel.config.SentinelConfig;
import com.alibaba.csp.sentinel.datasource.AbstractDataSource;
import com.alibaba.csp.sentinel.datasource.Converter;
import com.alibaba.csp.sentinel.datasource.consul.ConsulDataSource;
import com.alibaba.csp.sentinel.datasource.etcd.EtcdConfig;
import com.alibaba.csp.sentinel.datasource.etcd.EtcdDataSource;
import com.alibaba.csp.sentinel.datasource.nacos.NacosDataSource;
import com.alibaba.csp.sentinel.datasource.redis.RedisDataSource;
import com.alibaba.csp.sentinel.datasource.redis.config.RedisConnectionConfig;
import com.alibaba.nacos.api.NacosFactory;
import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.config.ConfigService;
import com.ecwid.consul.v1.ConsulClient;
import com.ecwid.consul.v1.Response;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.ClientBuilder;
import io.etcd.jetcd.kv.PutResponse;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.TransactionResult;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * A config center as a Java Sentinel app sees it: the flags that address one
 * key on it, the Sentinel datasource that reads it, and a writer that stores a
 * payload the way Java tools do.
 */
final class Backend {
    final String kind;
    // Redis
    private String host;
    private int port;
    private String password;
    private int database;
    private long timeoutMs;
    private String ruleKey;
    private String channel;
    // etcd
    private String endpoints;
    private String user;
    private String authority;
    // Nacos
    private String serverAddr;
    private String namespace;
    private String group;
    private String dataId;
    private String username;
    private String configType;
    // Consul
    private String token;
    private int watchTimeoutSec;

    private Backend(String kind) {
        this.kind = kind;
    }

    /** Reads the flags of the backend named by --backend. */
    static Backend fromFlags(Flags f) {
        Backend b = new Backend(f.require("backend"));
        switch (b.kind) {
            case "redis":
                b.host = f.get("host", "127.0.0.1");
                b.port = f.getInt("port", 6379);
                b.password = f.get("password", null);
                b.database = f.getInt("database", 0);
                b.timeoutMs = f.getInt("timeout-ms", 60_000);
                b.ruleKey = f.require("rule-key");
                b.channel = f.require("channel");
                break;
            case "etcd":
                b.endpoints = f.require("endpoints");
                b.ruleKey = f.require("key");
                b.user = f.get("user", null);
                b.password = f.get("password", null);
                b.authority = f.get("authority", null);
                break;
            case "nacos":
                b.serverAddr = f.require("server-addr");
                b.namespace = f.get("namespace", null);
                b.group = f.get("group", "SENTINEL_GROUP");
                b.dataId = f.require("data-id");
                b.username = f.get("username", null);
                b.password = f.get("password", null);
                b.configType = f.get("config-type", null);
                break;
            case "consul":
                b.host = f.get("host", "127.0.0.1");
                b.port = f.getInt("port", 8500);
                b.ruleKey = f.require("key");
                b.token = f.get("token", null);
                b.watchTimeoutSec = f.getInt("watch-timeout-sec", 5);
                break;
            default:
                throw new IllegalArgumentException("unknown backend " + b.kind + " (want redis, etcd, nacos or consul)");
        }
        return b;
    }

    /** Where the key lives, for READY lines. */
    Map<String, Object> describe() {
        switch (kind) {
            case "redis":
                return Out.obj("backend", kind, "addr", host + ":" + port, "ruleKey", ruleKey, "channel", channel);
            case "etcd":
                return Out.obj("backend", kind, "endpoints", endpoints, "key", ruleKey);
            case "nacos":
                return Out.obj("backend", kind, "serverAddr", serverAddr, "namespace", namespace, "group", group,
                    "dataId", dataId);
            default:
                return Out.obj("backend", kind, "addr", host + ":" + port, "key", ruleKey);
        }
    }

    /** Sentinel's own datasource for the key, built as the module's docs show. */
    AbstractDataSource<String, Object> dataSource(Converter<String, Object> parser) {
        switch (kind) {
            case "redis": {
                RedisConnectionConfig.Builder cb = RedisConnectionConfig.builder()
                    .withHost(host).withPort(port).withDatabase(database).withTimeout(timeoutMs);
                if (password != null) {
                    cb.withPassword(password);
                }
                return new RedisDataSource<>(cb.build(), ruleKey, channel, parser);
            }
            case "etcd":
                // EtcdDataSource takes its connection settings from SentinelConfig only.
                SentinelConfig.setConfig(EtcdConfig.END_POINTS, endpoints);
                if (user != null) {
                    SentinelConfig.setConfig(EtcdConfig.AUTH_ENABLE, "true");
                    SentinelConfig.setConfig(EtcdConfig.USER, user);
                    SentinelConfig.setConfig(EtcdConfig.PASSWORD, password == null ? "" : password);
                    if (authority != null) {
                        SentinelConfig.setConfig(EtcdConfig.AUTHORITY, authority);
                    }
                }
                return new EtcdDataSource<>(ruleKey, parser);
            case "nacos":
                return new NacosDataSource<>(nacosProperties(), group, dataId, parser);
            case "consul":
                return new ConsulDataSource<>(host, port, token, ruleKey, watchTimeoutSec, parser);
            default:
                throw new IllegalStateException(kind);
        }
    }

    private Properties nacosProperties() {
        Properties p = new Properties();
        p.setProperty(PropertyKeyConst.SERVER_ADDR, serverAddr);
        if (namespace != null) {
            p.setProperty(PropertyKeyConst.NAMESPACE, namespace);
        }
        if (username != null) {
            p.setProperty(PropertyKeyConst.USERNAME, username);
        }
        if (password != null) {
            p.setProperty(PropertyKeyConst.PASSWORD, password);
        }
        return p;
    }

    /** Writes payloads the way Java tools write them. */
    Writer writer() throws Exception {
        switch (kind) {
            case "redis":
                return new RedisWriter();
            case "etcd":
                return new EtcdWriter();
            case "nacos":
                return new NacosWriter();
            default:
                return new ConsulWriter();
        }
    }

    /** Stores and removes the payload of one key. */
    interface Writer extends AutoCloseable {
        /** Stores payload; the returned fields describe the server's answer. */
        Map<String, Object> put(String payload) throws Exception;

        Map<String, Object> delete() throws Exception;

        @Override
        void close();
    }

    /**
     * SET and PUBLISH of the same payload in one MULTI, as Sentinel's Redis
     * datasource documents: its subscriber takes the rules from the message
     * itself, not from the key.
     */
    private final class RedisWriter implements Writer {
        private final RedisClient client;
        private final StatefulRedisConnection<String, String> conn;

        RedisWriter() {
            RedisURI.Builder ub = RedisURI.builder().withHost(host).withPort(port).withDatabase(database)
                .withTimeout(Duration.ofMillis(timeoutMs));
            if (password != null) {
                ub.withPassword(password.toCharArray());
            }
            client = RedisClient.create(ub.build());
            conn = client.connect();
        }

        public Map<String, Object> put(String payload) {
            RedisCommands<String, String> c = conn.sync();
            c.multi();
            c.set(ruleKey, payload);
            c.publish(channel, payload);
            TransactionResult r = c.exec();
            boolean ok = !r.wasDiscarded() && r.size() == 2 && "OK".equals(r.get(0));
            return Out.obj("ok", ok, "subscribers", r.size() == 2 ? r.get(1) : null);
        }

        public Map<String, Object> delete() {
            Long n = conn.sync().del(ruleKey);
            return Out.obj("ok", true, "deleted", n);
        }

        public void close() {
            conn.close();
            client.shutdown(0, 2, TimeUnit.SECONDS);
        }
    }

    private final class EtcdWriter implements Writer {
        private final Client client;

        EtcdWriter() {
            ClientBuilder cb = Client.builder().endpoints(endpoints.split(","));
            if (user != null) {
                cb.user(ByteSequence.from(user, StandardCharsets.UTF_8))
                    .password(ByteSequence.from(password == null ? "" : password, StandardCharsets.UTF_8));
                if (authority != null) {
                    cb.authority(authority);
                }
            }
            client = cb.build();
        }

        public Map<String, Object> put(String payload) throws Exception {
            PutResponse r = client.getKVClient().put(ByteSequence.from(ruleKey, StandardCharsets.UTF_8),
                ByteSequence.from(payload, StandardCharsets.UTF_8)).get(30, TimeUnit.SECONDS);
            return Out.obj("ok", true, "revision", r.getHeader().getRevision());
        }

        public Map<String, Object> delete() throws Exception {
            long n = client.getKVClient().delete(ByteSequence.from(ruleKey, StandardCharsets.UTF_8))
                .get(30, TimeUnit.SECONDS).getDeleted();
            return Out.obj("ok", true, "deleted", n);
        }

        public void close() {
            client.close();
        }
    }

    private final class NacosWriter implements Writer {
        private final ConfigService cs;

        NacosWriter() throws Exception {
            cs = NacosFactory.createConfigService(nacosProperties());
        }

        public Map<String, Object> put(String payload) throws Exception {
            boolean ok = configType == null ? cs.publishConfig(dataId, group, payload)
                : cs.publishConfig(dataId, group, payload, configType);
            return Out.obj("ok", ok);
        }

        public Map<String, Object> delete() throws Exception {
            return Out.obj("ok", cs.removeConfig(dataId, group));
        }

        public void close() {
            try {
                cs.shutDown();
            } catch (Exception e) {
                System.err.println("nacos shutdown: " + e);
            }
        }
    }

    private final class ConsulWriter implements Writer {
        private final ConsulClient client = new ConsulClient(host, port);

        public Map<String, Object> put(String payload) {
            Response<Boolean> r = token == null ? client.setKVValue(ruleKey, payload)
                : client.setKVValue(ruleKey, payload, token, null);
            return Out.obj("ok", Boolean.TRUE.equals(r.getValue()), "index", r.getConsulIndex());
        }

        public Map<String, Object> delete() {
            Response<Void> r = token == null ? client.deleteKVValue(ruleKey) : client.deleteKVValue(ruleKey, token);
            return Out.obj("ok", true, "index", r.getConsulIndex());
        }

        public void close() {
        }
    }
}
