package suites

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	goredis "github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/internal/syncbuf"
	"github.com/rulesync/rulesync/sources/consul"
	"github.com/rulesync/rulesync/sources/consul/consultest"
	"github.com/rulesync/rulesync/sources/etcd"
	"github.com/rulesync/rulesync/sources/etcd/etcdtest"
	"github.com/rulesync/rulesync/sources/redis"
	"github.com/rulesync/rulesync/sources/redis/redistest"
)

// fixture is one config center under test, seen two ways: through our source
// (Source) and the way other tools change it (Put, Delete: etcdctl, or a Java
// Sentinel app publishing on Redis).
type fixture interface {
	// Source returns a new source with its own connection, closed with t.
	Source(t testing.TB) datasource.WritableSource
	// Put stores data the way other tools do.
	Put(t testing.TB, data []byte)
	// Delete removes the key the way other tools do.
	Delete(t testing.TB)
	// Server is the running server, for fault tests.
	Server() harness.Server
	// AfterRestart runs once the server is back after a kill: etcd compacts its
	// history so that watchers must recover from compaction.
	AfterRestart(t testing.TB)
}

// backends lists the config centers every suite runs against. restart, when
// set, makes the fixture of the restart tests (TestConvergesAfterServerKill)
// instead of new: a server that keeps its data where the default one does
// not.
var backends = []struct {
	name    string
	new     func(t testing.TB, key string) fixture
	restart func(t testing.TB, key string) fixture
}{
	{name: "etcd", new: newEtcdFixture},
	{name: "redis", new: newRedisFixture},
	{name: "redis-cluster", new: newRedisClusterFixture},
	{name: "redis-sentinel", new: newRedisSentinelFixture},
	{name: "consul", new: newConsulFixture, restart: newPersistentConsulFixture},
	{name: "nacos", new: newNacosFixture},
	{name: "polaris", new: newPolarisFixture},
	{name: "apollo-protocol", new: newApolloFixture},
}

// raceSensitive is a fixture whose fault tests cannot run under the race
// detector: its SDK races with itself when it reconnects. They skip there,
// and `make test-norace` runs them without -race.
type raceSensitive interface {
	raceReason() string
}

// slowWriters is a fixture whose concurrent writers need more time than the
// default (an SDK that paces reads).
type slowWriters interface {
	writersDeadline() time.Duration
}

// compareAndSetter is a fixture that may lack a working compare-and-set:
// compareAndSetBroken says why, or "" when it works.
type compareAndSetter interface {
	compareAndSetBroken() string
}

func opCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ---- etcd

type etcdFixture struct {
	srv  *harness.EtcdServer
	raw  *clientv3.Client
	key  string
	logs syncbuf.Buffer // what the sources logged (compaction recoveries)
	log  *slog.Logger
}

func newEtcdFixture(t testing.TB, key string) fixture {
	srv := harness.Etcd(t)
	f := &etcdFixture{srv: srv, key: "/sentinel/" + key}
	f.log = slog.New(slog.NewTextHandler(&f.logs, nil))
	f.raw = f.client(t)
	return f
}

// client dials with the harness's configuration, whose short gRPC reconnect
// backoff keeps fault tests fast.
func (f *etcdFixture) client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(etcdtest.Config(f.srv))
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (f *etcdFixture) Source(t testing.TB) datasource.WritableSource {
	s, err := etcd.New(f.client(t), f.key, etcd.WithLogger(f.log))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *etcdFixture) Put(t testing.TB, data []byte) {
	t.Helper()
	if _, err := f.raw.Put(opCtx(t), f.key, string(data)); err != nil {
		t.Fatalf("etcd put: %v", err)
	}
}

func (f *etcdFixture) Delete(t testing.TB) {
	t.Helper()
	if _, err := f.raw.Delete(opCtx(t), f.key); err != nil {
		t.Fatalf("etcd delete: %v", err)
	}
}

func (f *etcdFixture) Server() harness.Server { return f.srv }

func (f *etcdFixture) AfterRestart(t testing.TB) {
	t.Helper()
	ctx := opCtx(t)
	// Churn the key, then compact everything before the latest revision.
	var rev int64
	for range 3 {
		r, err := f.raw.Put(ctx, f.key, `[{"resource":"churn","count":1}]`)
		if err != nil {
			t.Fatalf("etcd churn put: %v", err)
		}
		rev = r.Header.Revision
	}
	if _, err := f.raw.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("etcd compact: %v", err)
	}
}

// ---- redis: standalone, cluster, sentinel

// redisFixture is one Redis deployment, whatever its topology: the source and
// the Java-style writer only need a goredis.UniversalClient.
type redisFixture struct {
	srv          harness.Server                             // the server holding the key
	client       func(t testing.TB) goredis.UniversalClient // a new client, closed with t
	raw          goredis.UniversalClient
	key, channel string
	log          *slog.Logger
	// killRuns and killTargets, when set, replace TestConvergesAfterServerKill's
	// default plan (see killPlan).
	killRuns    int
	killTargets []harness.Server
	// afterRestart, when set, runs once a killed server is back.
	afterRestart func(t testing.TB)
	// health, when set, is the source's WithHealthCheck period: how long a
	// silent subscription waits before it pings and re-reads the key.
	health time.Duration
}

var _ killPlanner = (*redisFixture)(nil)

func newRedisFixture(t testing.TB, key string) fixture {
	srv := harness.Redis(t)
	f := &redisFixture{
		srv:     srv,
		client:  func(t testing.TB) goredis.UniversalClient { return redistest.Client(t, srv) },
		key:     "sentinel:" + key,
		channel: "sentinel:" + key + ":channel",
		log:     slog.New(slog.DiscardHandler),
	}
	f.raw = f.client(t)
	return f
}

// newRedisClusterFixture runs the source on a three-master cluster. Server is
// the node holding the key, and the channel is chosen to hash to a slot of
// another node. go-redis subscribes on the node owning the channel's slot, so
// every update crosses the cluster bus (PUBLISH is broadcast to all nodes) to
// reach the source, and the kill test kills, in turn, the key's node (the
// subscription survives, the key is lost) and the subscription's node (the
// source must resubscribe and re-read).
//
// Each cycle costs over 2 s, because a restarted master refuses commands for
// a fixed 2 s (CLUSTER_WRITABLE_DELAY in Redis), so the cluster runs 6 cycles,
// 3 per node, instead of 20: the package stays under a minute.
func newRedisClusterFixture(t testing.TB, key string) fixture {
	c := harness.RedisCluster(t)
	f := &redisFixture{
		client:   func(t testing.TB) goredis.UniversalClient { return redistest.ClusterClient(t, c) },
		key:      "sentinel:" + key,
		log:      slog.New(slog.DiscardHandler),
		killRuns: 6,
		// In a cluster only the periodic re-read can notice that the key's
		// node restarted empty; a short period keeps the tests quick.
		health: time.Second,
		afterRestart: func(t testing.TB) {
			t.Helper()
			// The restarted master refuses commands for two seconds and must
			// reopen its bus links before what it publishes reaches the source.
			if err := c.WaitHealthy(opCtx(t)); err != nil {
				t.Fatalf("redis cluster after restart: %v", err)
			}
		},
	}
	f.raw = f.client(t)
	ctx := opCtx(t)
	keyNode, err := c.NodeForKey(ctx, f.key)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; f.channel == ""; i++ {
		ch := fmt.Sprintf("sentinel:%s:channel-%d", key, i)
		n, err := c.NodeForKey(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		if n != keyNode {
			f.channel = ch
			f.killTargets = []harness.Server{keyNode, n}
		}
	}
	f.srv = keyNode
	return f
}

// newRedisSentinelFixture runs the source on a client that finds the master
// through Sentinel; Server is the master.
func newRedisSentinelFixture(t testing.TB, key string) fixture {
	s := harness.RedisSentinel(t)
	f := &redisFixture{
		srv:     s.Master,
		client:  func(t testing.TB) goredis.UniversalClient { return redistest.FailoverClient(t, s) },
		key:     "sentinel:" + key,
		channel: "sentinel:" + key + ":channel",
		log:     slog.New(slog.DiscardHandler),
	}
	f.raw = f.client(t)
	return f
}

func (f *redisFixture) Source(t testing.TB) datasource.WritableSource {
	opts := []redis.Option{redis.WithLogger(f.log)}
	if f.health > 0 {
		opts = append(opts, redis.WithHealthCheck(f.health))
	}
	s, err := redis.New(f.client(t), f.key, f.channel, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Put is what Java Sentinel's RedisDataSource users do: MULTI, SET, PUBLISH,
// EXEC. In a cluster the transaction goes to the key's node: PUBLISH has no
// key, so go-redis keeps it in the same MULTI, and the node broadcasts it.
func (f *redisFixture) Put(t testing.TB, data []byte) {
	t.Helper()
	ctx := opCtx(t)
	if _, err := f.raw.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, f.key, data, 0)
		p.Publish(ctx, f.channel, data)
		return nil
	}); err != nil {
		t.Fatalf("redis put: %v", err)
	}
}

func (f *redisFixture) Delete(t testing.TB) {
	t.Helper()
	ctx := opCtx(t)
	if _, err := f.raw.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, f.key)
		p.Publish(ctx, f.channel, "")
		return nil
	}); err != nil {
		t.Fatalf("redis delete: %v", err)
	}
}

func (f *redisFixture) Server() harness.Server { return f.srv }

func (f *redisFixture) killPlan() (int, []harness.Server) {
	runs, targets := defaultKillRuns, []harness.Server{f.srv}
	if f.killRuns > 0 {
		runs = f.killRuns
	}
	if len(f.killTargets) > 0 {
		targets = f.killTargets
	}
	return runs, targets
}

// AfterRestart: Redis comes back empty (no persistence); only a cluster has
// to settle first.
func (f *redisFixture) AfterRestart(t testing.TB) {
	if f.afterRestart != nil {
		f.afterRestart(t)
	}
}

// ---- consul

// consulFixture is a Consul agent: in dev mode (in memory, elected in a
// fraction of a second) for most suites, a single server with a data
// directory for the restart tests, so that the key survives the kill and the
// source meets a restarted server's first answers.
type consulFixture struct {
	srv *harness.ConsulServer
	raw *api.KV
	key string
	log *slog.Logger
}

func newConsulFixture(t testing.TB, key string) fixture {
	return startConsulFixture(t, key)
}

func newPersistentConsulFixture(t testing.TB, key string) fixture {
	return startConsulFixture(t, key, harness.WithPersistence())
}

func startConsulFixture(t testing.TB, key string, opts ...harness.Option) *consulFixture {
	srv := harness.Consul(t, opts...)
	return &consulFixture{srv: srv, raw: consultest.Client(t, srv).KV(), key: "sentinel/" + key, log: slog.New(slog.DiscardHandler)}
}

func (f *consulFixture) Source(t testing.TB) datasource.WritableSource {
	s, err := consul.New(consultest.Client(t, f.srv), f.key, consul.WithLogger(f.log))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Put is what Consul's CLI, its UI and Java's Consul client do: a plain KV PUT.
func (f *consulFixture) Put(t testing.TB, data []byte) {
	t.Helper()
	if _, err := f.raw.Put(&api.KVPair{Key: f.key, Value: data}, (&api.WriteOptions{}).WithContext(opCtx(t))); err != nil {
		t.Fatalf("consul put: %v", err)
	}
}

func (f *consulFixture) Delete(t testing.TB) {
	t.Helper()
	if _, err := f.raw.Delete(f.key, (&api.WriteOptions{}).WithContext(opCtx(t))); err != nil {
		t.Fatalf("consul delete: %v", err)
	}
}

func (f *consulFixture) Server() harness.Server { return f.srv }

// AfterRestart: Restart returns once the server answers consistent reads.
func (f *consulFixture) AfterRestart(testing.TB) {}
