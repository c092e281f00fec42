// Package harness starts the servers the integration tests run against:
// Redis (standalone, Cluster, Sentinel), etcd and Consul; apollo-mock-server
// and the project's own Apollo-protocol test server (no Apollo server can be
// had here); and Java Sentinel peers (Java).
//
// Each constructor (Redis, Etcd, RedisCluster, RedisSentinel, Consul) returns servers
// that are ready to serve, on loopback ports, and registers their shutdown
// with t.Cleanup. Where a Docker daemon answers, the official image runs
// through the docker CLI; otherwise the local binary (Debian's redis-server and
// etcd, see scripts/setup-servers.sh) runs as a child process with a private
// temp directory. RULESYNC_SERVERS chooses explicitly: "docker", "local" or
// "auto" (the default). RedisCluster and RedisSentinel always run the local
// redis-server. RedisSentinel with WithReplica also starts a replica that the
// sentinel promotes once the master dies, for failover tests.
//
// Consul always runs the local agent that scripts/setup-consul.sh builds
// (v1.14.11; recipe and measurements in CONSUL.md): in dev mode by default, as
// a single server with a data directory with WithPersistence, and with
// default-deny ACLs, a management token and per-prefix tokens with WithACL,
// and with its API over TLS too (a fresh test CA) with WithTLS.
//
// Nacos starts a real standalone Nacos 2.3.2 (a JVM, embedded Derby storage)
// from the classpath scripts/setup-nacos.sh resolves with Maven, and Polaris
// a Polaris v1.18.1 server that speaks the Nacos config protocol too; both
// always run locally; both change configs over the Nacos HTTP open API
// (PutConfig, GetConfig, DeleteConfig). NACOS.md has the recipe, timings and
// the behaviours pinned against nacos-sdk-go, whose clients for tests live in
// github.com/rulesync/rulesync/sources/nacos/nacostest.
//
// The package imports nothing beyond the standard library (and this module's
// internal packages): it speaks RESP2 to Redis and JSON over HTTP to etcd's
// gateway and to Consul's HTTP API itself, so that a module whose tests use it
// inherits no SDK. Clients for tests come from the sources' own modules:
// github.com/rulesync/rulesync/sources/redis/redistest (go-redis),
// github.com/rulesync/rulesync/sources/etcd/etcdtest (the etcd client) and
// github.com/rulesync/rulesync/sources/consul/consultest (Consul's api).
//
// A server that cannot be found skips the test, unless RULESYNC_REQUIRE_SERVERS=1
// (CI), where it fails it: a suite that silently skips there proves nothing.
//
// Fault tests use Kill (SIGKILL, no goodbye to clients), Stop (graceful),
// Restart (same port, same data directory) and Pause/Resume (SIGSTOP/SIGCONT,
// docker pause for a container: connections stay open but nothing answers,
// like a partition). etcd keeps its data across a restart.
// Redis runs without persistence by default and comes back empty, which is what a
// cache-style Redis without AOF does after a crash, and the harder case for a
// client; WithPersistence turns on the append-only file so that it comes back
// with its data. Consul in dev mode comes back empty too; with WithPersistence
// it keeps keys, tokens and policies.
package harness
