package suites

// The harness's own self-tests that use a client SDK to prove a server works
// live here rather than in the harness package: the harness module must not
// require go-redis or the etcd client.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/etcd/etcdtest"
	"github.com/rulesync/rulesync/sources/redis/redistest"
)

func TestHarnessRedisKillRestart(t *testing.T) {
	s := harness.Redis(t, harness.WithPassword(`p"w\d`))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := redistest.Client(t, s)
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
	wrong := redistest.Options(s)
	wrong.Password = "wrong"
	wrong.MaxRetries = -1
	if err := goredisPing(ctx, wrong); err == nil {
		t.Fatal("ping with a wrong password succeeded: requirepass not applied")
	}
}

func TestHarnessEtcdKillRestartKeepsData(t *testing.T) {
	s := harness.Etcd(t, harness.WithPassword("s3cret"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := etcdtest.Client(t, s)
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

	cfg := etcdtest.Config(s)
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

func TestHarnessRedisPersistenceKeepsData(t *testing.T) {
	s := harness.Redis(t, harness.WithPersistence())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := redistest.Client(t, s)
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

func TestHarnessRedisClusterForms(t *testing.T) {
	c := harness.RedisCluster(t, harness.WithPassword("cl"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc := redistest.ClusterClient(t, c)
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
		if v, err := redistest.Client(t, n).Get(ctx, key).Int(); err != nil || v != i {
			t.Fatalf("get %s from its node %s: %d %v, want %d", key, n.Addr, v, err, i)
		}
	}
	if len(owners) != len(c.Nodes) {
		t.Fatalf("30 keys landed on %d nodes, want all %d", len(owners), len(c.Nodes))
	}
	for _, n := range c.Nodes {
		slots, err := redistest.Client(t, n).ClusterSlots(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := coversAllSlots(slots); err != nil {
			t.Fatalf("%s: %v", n.Addr, err)
		}
	}
	wrong := redistest.ClusterOptions(c)
	wrong.Password = "wrong"
	wc := goredis.NewClusterClient(wrong)
	defer wc.Close()
	if err := wc.Ping(ctx).Err(); err == nil {
		t.Fatal("ping with a wrong password succeeded: requirepass not applied")
	}
}

// A killed node comes back with its node ID and slots (nodes.conf), and the
// cluster serves its keys again once healthy.
func TestHarnessRedisClusterNodeKillRestart(t *testing.T) {
	c := harness.RedisCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc := redistest.ClusterClient(t, c)
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
		t.Fatalf("after restart: %v\n%s", err, clusterLogs(c))
	}
	if again, err := c.NodeForKey(ctx, key); err != nil || again != n {
		t.Fatalf("after restart the key is on %v (%v), want %s", again, err, n.Addr)
	}
	if err := cc.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatalf("set after restart: %v", err)
	}
}

func TestHarnessRedisSentinelReportsMaster(t *testing.T) {
	s := harness.RedisSentinel(t, harness.WithPassword("se"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, err := redistest.SentinelClient(t, s).GetMasterAddrByName(ctx, s.MasterName).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(addr) != 2 || addr[0]+":"+addr[1] != s.Master.Addr {
		t.Fatalf("sentinel names master %v, want %s", addr, s.Master.Addr)
	}
	// The sentinel reaches the master with its password: once the down-after
	// period has passed without an answer it would flag it s_down.
	time.Sleep(1500 * time.Millisecond)
	m, err := redistest.SentinelClient(t, s).Master(ctx, s.MasterName).Result()
	if err != nil {
		t.Fatal(err)
	}
	if m["flags"] != "master" {
		t.Fatalf("sentinel flags the master %q, want master (is the password applied?)\n%s", m["flags"], s.Sentinel.Logs())
	}
	fc := redistest.FailoverClient(t, s)
	if err := fc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set through the sentinel: %v", err)
	}
	if v, err := redistest.Client(t, s.Master).Get(ctx, "k").Result(); err != nil || v != "v" {
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
func TestHarnessRedisSentinelReplicaFailover(t *testing.T) {
	s := harness.RedisSentinel(t, harness.WithPassword("se"), harness.WithReplica())
	if s.Replica == nil {
		t.Fatal("WithReplica started no replica")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fc := redistest.FailoverClient(t, s)
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
	if v, err := redistest.Client(t, s.Replica).Get(ctx, "k").Result(); err != nil || v != "v" {
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
	if v, err := redistest.Client(t, s.Replica).Get(ctx, "k").Result(); err != nil || v != "promoted" {
		t.Fatalf("promoted replica holds %q %v, want promoted", v, err)
	}
}

// coversAllSlots checks that the ranges of CLUSTER SLOTS, as go-redis reads
// them, serve every one of the 16384 slots.
func coversAllSlots(slots []goredis.ClusterSlot) error {
	var seen [16384]bool
	for _, r := range slots {
		if len(r.Nodes) == 0 {
			return fmt.Errorf("slots %d-%d have no node", r.Start, r.End)
		}
		for s := max(r.Start, 0); s <= r.End && s < len(seen); s++ {
			seen[s] = true
		}
	}
	for s, ok := range seen {
		if !ok {
			return fmt.Errorf("slot %d is not served", s)
		}
	}
	return nil
}

// clusterLogs gathers the tail of every node's output for failure messages.
func clusterLogs(c *harness.RedisClusterServer) string {
	var b strings.Builder
	for _, n := range c.Nodes {
		logs := n.Logs()
		if len(logs) > 1500 {
			logs = "..." + logs[len(logs)-1500:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", n.Addr, logs)
	}
	return b.String()
}
