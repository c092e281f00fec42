package harness

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestRedisKillRestart(t *testing.T) {
	s := Redis(t, WithPassword(`p"w\d`))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	if err := s.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping succeeded on a killed server")
	}
	addr := s.Addr
	if err := s.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if s.Addr != addr {
		t.Fatalf("restart moved the server from %s to %s", addr, s.Addr)
	}
	// No persistence: the restarted server is empty.
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after restart: exists=%d err=%v, want 0 <nil>", n, err)
	}
	wrong := s.Options()
	wrong.Password = "wrong"
	wrong.MaxRetries = -1
	if err := goredisPing(ctx, wrong); err == nil {
		t.Fatal("ping with a wrong password succeeded: requirepass not applied")
	}
}

func TestEtcdKillRestartKeepsData(t *testing.T) {
	s := Etcd(t, WithPassword("s3cret"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.Client(t)
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := s.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if err := s.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	resp, err := c.Get(ctx, "k")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("after restart got %v, want k=v kept", resp.Kvs)
	}

	cfg := s.Config()
	cfg.Password = "wrong"
	_, err = clientv3.New(cfg)
	if err == nil || !errors.Is(err, rpctypes.ErrAuthFailed) {
		t.Fatalf("wrong password: err=%v, want %v", err, rpctypes.ErrAuthFailed)
	}
}

func goredisPing(ctx context.Context, o *goredis.Options) error {
	c := goredis.NewClient(o)
	defer c.Close()
	return c.Ping(ctx).Err()
}

func TestRedisPersistenceKeepsData(t *testing.T) {
	s := Redis(t, WithPersistence())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.Client(t)
	if err := c.Set(ctx, "k", "kept", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "kept" {
		t.Fatalf("after kill and restart: %q %v, want kept", v, err)
	}
}
