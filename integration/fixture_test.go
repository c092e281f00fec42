package integration

import (
	"context"
	"log/slog"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/etcd"
	"github.com/rulesync/rulesync/sources/redis"
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

// backends lists the config centers every suite runs against.
var backends = []struct {
	name string
	new  func(t testing.TB, key string) fixture
}{
	{"etcd", newEtcdFixture},
	{"redis", newRedisFixture},
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
	logs syncBuf // what the sources logged (compaction recoveries)
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
	c, err := clientv3.New(f.srv.Config())
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

// ---- redis

type redisFixture struct {
	srv          *harness.RedisServer
	raw          *goredis.Client
	key, channel string
	log          *slog.Logger
}

func newRedisFixture(t testing.TB, key string) fixture {
	srv := harness.Redis(t)
	return &redisFixture{
		srv: srv, raw: srv.Client(t),
		key: "sentinel:" + key, channel: "sentinel:" + key + ":channel",
		log: slog.New(slog.DiscardHandler),
	}
}

func (f *redisFixture) Source(t testing.TB) datasource.WritableSource {
	c := f.srv.Client(t)
	s, err := redis.New(c, f.key, f.channel, redis.WithLogger(f.log))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Put is what Java Sentinel's RedisDataSource users do: MULTI, SET, PUBLISH, EXEC.
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

// AfterRestart: Redis comes back empty (no persistence); nothing to add.
func (f *redisFixture) AfterRestart(testing.TB) {}
