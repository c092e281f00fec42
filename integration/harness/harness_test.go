package harness

import (
	"context"
	"errors"
	"fmt"
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

func TestRedisClusterForms(t *testing.T) {
	c := RedisCluster(t, WithPassword("cl"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc := c.ClusterClient(t)
	// Enough keys to land on every node.
	owners := map[string]bool{}
	for i := range 30 {
		key := fmt.Sprintf("k%d", i)
		if err := cc.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("set %s: %v", key, err)
		}
		n, err := c.NodeForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		owners[n.Addr] = true
		// The node named as owner holds the key itself (no redirection).
		if v, err := n.Client(t).Get(ctx, key).Int(); err != nil || v != i {
			t.Fatalf("get %s from its node %s: %d %v, want %d", key, n.Addr, v, err, i)
		}
	}
	if len(owners) != clusterMasters {
		t.Fatalf("30 keys landed on %d nodes, want all %d", len(owners), clusterMasters)
	}
	for _, n := range c.Nodes {
		slots, err := n.Client(t).ClusterSlots(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := coverAll(slots); err != nil {
			t.Fatalf("%s: %v", n.Addr, err)
		}
	}
	wrong := c.ClusterOptions()
	wrong.Password = "wrong"
	wc := goredis.NewClusterClient(wrong)
	defer wc.Close()
	if err := wc.Ping(ctx).Err(); err == nil {
		t.Fatal("ping with a wrong password succeeded: requirepass not applied")
	}
}

// A killed node comes back with its node ID and slots (nodes.conf), and the
// cluster serves its keys again once healthy.
func TestRedisClusterNodeKillRestart(t *testing.T) {
	c := RedisCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc := c.ClusterClient(t)
	const key = "doomed"
	n, err := c.NodeForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if err := cc.Set(short, key, "v", 0).Err(); err == nil {
		t.Fatal("set succeeded while the key's node was down")
	}
	if err := c.WaitHealthy(short); err == nil {
		t.Fatal("cluster reported healthy with a node down")
	}
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("after restart: %v\n%s", err, c.logs())
	}
	if again, err := c.NodeForKey(ctx, key); err != nil || again != n {
		t.Fatalf("after restart the key is on %v (%v), want %s", again, err, n.Addr)
	}
	if err := cc.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatalf("set after restart: %v", err)
	}
}

func TestRedisSentinelReportsMaster(t *testing.T) {
	s := RedisSentinel(t, WithPassword("se"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, err := s.SentinelClient(t).GetMasterAddrByName(ctx, s.MasterName).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(addr) != 2 || addr[0]+":"+addr[1] != s.Master.Addr {
		t.Fatalf("sentinel names master %v, want %s", addr, s.Master.Addr)
	}
	// The sentinel reaches the master with its password: once the down-after
	// period has passed without an answer it would flag it s_down.
	time.Sleep(1500 * time.Millisecond)
	m, err := s.SentinelClient(t).Master(ctx, s.MasterName).Result()
	if err != nil {
		t.Fatal(err)
	}
	if m["flags"] != "master" {
		t.Fatalf("sentinel flags the master %q, want master (is the password applied?)\n%s", m["flags"], s.Sentinel.Logs())
	}
	fc := s.FailoverClient(t)
	if err := fc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set through the sentinel: %v", err)
	}
	if v, err := s.Master.Client(t).Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("master holds %q %v, want v", v, err)
	}
	// A killed master comes back at the address the sentinel still names.
	if err := s.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Master.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := fc.Set(ctx, "k", "again", 0).Err(); err != nil {
		t.Fatalf("set through the sentinel after a master restart: %v", err)
	}
}

// WithReplica: the replica syncs with the password-protected master, the
// sentinel knows it, and once the master is killed (and stays dead) the
// sentinel promotes it and a failover client writes there.
func TestRedisSentinelReplicaFailover(t *testing.T) {
	s := RedisSentinel(t, WithPassword("se"), WithReplica())
	if s.Replica == nil {
		t.Fatal("WithReplica started no replica")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fc := s.FailoverClient(t)
	// WAIT counts the acknowledgements of the writes of its own connection,
	// hence one connection for both.
	conn := fc.Conn()
	defer conn.Close()
	if err := conn.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set through the sentinel: %v", err)
	}
	if n, err := conn.Do(ctx, "WAIT", 1, 10_000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1: %d replicas acknowledged (%v), want 1 (is masterauth applied?)\n%s", n, err, s.Replica.Logs())
	}
	if v, err := s.Replica.Client(t).Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("replica holds %q %v, want v", v, err)
	}
	if err := s.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitMaster(ctx, s.Replica); err != nil {
		t.Fatalf("%v\n%s", err, s.Sentinel.Logs())
	}
	if err := fc.Set(ctx, "k", "promoted", 0).Err(); err != nil {
		t.Fatalf("set through the sentinel after the failover: %v", err)
	}
	if v, err := s.Replica.Client(t).Get(ctx, "k").Result(); err != nil || v != "promoted" {
		t.Fatalf("promoted replica holds %q %v, want promoted", v, err)
	}
}
