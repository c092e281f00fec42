package harness

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
)

// SentinelMasterName is the name under which RedisSentinel's sentinel
// monitors its master.
const SentinelMasterName = "mymaster"

// RedisSentinelServer is a Redis master watched by one Sentinel, for one test.
// By default it has no replicas, so the sentinel never fails over: a killed
// master is the same master when it comes back, which is what the fault tests
// expect. With WithReplica the master has one replica, and killing the master
// makes the sentinel promote it (see WaitMaster).
// Like RedisCluster it always runs the local redis-server binary, since the
// sentinel must reach the master at the address it hands to clients.
type RedisSentinelServer struct {
	// Master is the master at start; fault tests kill and restart it.
	Master *RedisServer
	// Replica is the master's replica when started WithReplica, else nil.
	// Once the sentinel has promoted it, it is the master.
	Replica *RedisServer
	// Sentinel is the sentinel process (redis-server --sentinel). Talk to it
	// with a sentinel client (redistest.SentinelClient in sources/redis): it
	// answers SENTINEL commands, not data commands.
	Sentinel *RedisServer
	// MasterName is the name clients ask the sentinel for.
	MasterName string
	// SentinelAddrs are the sentinels' host:port.
	SentinelAddrs []string
	// Password is the requirepass of the master (and replica), "" when they
	// are open. The sentinel itself has no password.
	Password string
}

// RedisSentinel starts a Redis master and a Sentinel monitoring it (quorum 1,
// down after 1 s) for t, and stops both when t ends. It returns once the
// sentinel names the master's address. It skips t when redis-server is missing
// (fails it with RULESYNC_REQUIRE_SERVERS=1). WithPassword and WithPersistence
// apply to the master (and replica); the sentinel is given the password to
// monitor it.
//
// WithReplica also starts one replica of the master. RedisSentinel then
// returns only once the master counts the replica online, the replica reports
// its link to the master up, and the sentinel lists it as a healthy replica:
// from then on a dead master is failed over to it.
func RedisSentinel(t testing.TB, opts ...Option) *RedisSentinelServer {
	t.Helper()
	cfg := newConfig(opts)
	var replication []string
	if cfg.replica {
		replication = replicationConf(cfg)
	}
	master := start(t, "redis sentinel", func(string) (*RedisServer, error) {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		s := &RedisServer{Addr: loopback(ports[0]), Password: cfg.password}
		s.name = "redis master " + s.Addr
		return newLocalRedis(t, s, ports[0], cfg, replication...)
	})
	var replica *RedisServer
	if cfg.replica {
		replica = start(t, "redis sentinel", func(string) (*RedisServer, error) {
			return newReplica(t, master, cfg, replication)
		})
		// Started only now: the sentinel learns of replicas from the master's
		// INFO, which it reads at once on connecting and then only every 10 s.
		waitFor(t, "replica "+replica.Addr+" to sync with master "+master.Addr,
			func(ctx context.Context) error { return replicationUp(ctx, master, replica) },
			master, replica)
	}
	sentinel := start(t, "redis sentinel", func(string) (*RedisServer, error) {
		return newSentinel(t, master, replica, cfg)
	})
	s := &RedisSentinelServer{
		Master:        master,
		Replica:       replica,
		Sentinel:      sentinel,
		MasterName:    SentinelMasterName,
		SentinelAddrs: []string{sentinel.Addr},
		Password:      cfg.password,
	}
	if replica != nil {
		// A sentinel only promotes a replica it knows and sees healthy.
		waitFor(t, "sentinel "+sentinel.Addr+" to list replica "+replica.Addr,
			func(ctx context.Context) error { return sentinelHasReplica(ctx, sentinel.Addr, replica.Addr) },
			sentinel, replica)
	}
	return s
}

// replicationConf is what every data node of a replicated setup needs, since
// any of them may become a master or a replica: the master's password for a
// replica to sync (after a failover, the old master, restarted, is turned
// into a replica of the new one), and a full sync that starts at once instead
// of waiting 5 s for more replicas to join (Redis 7's diskless default).
func replicationConf(cfg config) []string {
	lines := []string{"repl-diskless-sync-delay 0"}
	if cfg.password != "" {
		lines = append(lines, "masterauth "+redisQuote(cfg.password))
	}
	return lines
}

// newReplica makes a local redis-server that replicates master, with the
// replication lines shared with the master.
func newReplica(t testing.TB, master *RedisServer, cfg config, replication []string) (*RedisServer, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(master.Addr)
	if err != nil {
		return nil, err
	}
	s := &RedisServer{Addr: loopback(ports[0]), Password: cfg.password}
	s.name = "redis replica " + s.Addr
	// Readiness is the plain PING of newLocalRedis: after a failover the
	// sentinel rewrites this config into a master's, so a Restart must not
	// wait for a link to a master.
	extra := append([]string{"replicaof " + host + " " + port}, replication...)
	return newLocalRedis(t, s, ports[0], cfg, extra...)
}

func newSentinel(t testing.TB, master, replica *RedisServer, cfg config) (*RedisServer, error) {
	bin, err := lookBinary("redis-server")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(master.Addr)
	if err != nil {
		return nil, err
	}
	s := &RedisServer{Addr: loopback(ports[0])}
	s.name = "redis sentinel " + s.Addr
	// After a failover the sentinel (which rewrites its config) names the
	// promoted replica, also after a Restart.
	masters := []string{master.Addr}
	if replica != nil {
		masters = append(masters, replica.Addr)
	}
	s.ready = func(ctx context.Context) error { return sentinelNames(ctx, s.Addr, masters...) }
	dir := t.TempDir()
	lines := append(baseConf(ports[0], dir),
		fmt.Sprintf("sentinel monitor %s %s %s 1", SentinelMasterName, host, port),
		// The defaults (30 s, 3 min) outlast any test: with these the
		// sentinel flags a dead master within a second and fails over to a
		// replica at once, or, without one, retries (and aborts) within seconds.
		"sentinel down-after-milliseconds "+SentinelMasterName+" 1000",
		"sentinel failover-timeout "+SentinelMasterName+" 5000",
	)
	if cfg.password != "" {
		lines = append(lines, "sentinel auth-pass "+SentinelMasterName+" "+redisQuote(cfg.password))
	}
	// Sentinel rewrites its config file with what it learns (its ID, epochs,
	// replicas, a new master), hence a private writable file that Restart
	// reads back.
	conf, err := writeConf(dir, "sentinel.conf", lines)
	if err != nil {
		return nil, err
	}
	s.b = newProcess(bin, dir, conf, "--sentinel")
	return s, nil
}

// sentinelNames checks that the sentinel at addr answers
// SENTINEL GET-MASTER-ADDR-BY-NAME with one of masters.
func sentinelNames(ctx context.Context, addr string, masters ...string) error {
	v, err := redisDo(ctx, addr, "", "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMasterName)
	if err != nil {
		return err
	}
	got, err := replyStrings(v)
	if err != nil {
		return fmt.Errorf("SENTINEL GET-MASTER-ADDR-BY-NAME: %w", err)
	}
	if len(got) != 2 || !slices.Contains(masters, net.JoinHostPort(got[0], got[1])) {
		return fmt.Errorf("sentinel names master %v, want %s", got, strings.Join(masters, " or "))
	}
	return nil
}

// sentinelHasReplica checks that the sentinel at addr lists replica among the
// master's replicas, seen as up (flags exactly "slave": no s_down, no
// disconnected) with its link to the master up.
func sentinelHasReplica(ctx context.Context, addr, replica string) error {
	v, err := redisDo(ctx, addr, "", "SENTINEL", "REPLICAS", SentinelMasterName)
	if err != nil {
		return err
	}
	replicas, err := replyArray(v)
	if err != nil {
		return fmt.Errorf("SENTINEL REPLICAS: %w", err)
	}
	for _, e := range replicas {
		r, err := replyMap(e)
		if err != nil {
			return fmt.Errorf("SENTINEL REPLICAS: %w", err)
		}
		if net.JoinHostPort(r["ip"], r["port"]) != replica {
			continue
		}
		if r["flags"] != "slave" || r["master-link-status"] != "ok" {
			return fmt.Errorf("sentinel sees replica %s with flags %q, master-link-status %q", replica, r["flags"], r["master-link-status"])
		}
		return nil
	}
	return fmt.Errorf("sentinel lists %d replicas, not %s", len(replicas), replica)
}

// replicationUp checks, from both sides, that replica is an online replica of
// master: the master's INFO replication counts exactly one connected replica,
// online at replica's address, and the replica's says its link is up.
func replicationUp(ctx context.Context, master, replica *RedisServer) error {
	m, err := infoReplication(ctx, master)
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(replica.Addr)
	if err != nil {
		return err
	}
	if m["connected_slaves"] != "1" || !strings.Contains(m["slave0"], ",port="+port+",state=online,") {
		return fmt.Errorf("master reports connected_slaves:%s slave0:%s, want replica port %s online", m["connected_slaves"], m["slave0"], port)
	}
	r, err := infoReplication(ctx, replica)
	if err != nil {
		return err
	}
	if r["master_link_status"] != "up" {
		return fmt.Errorf("replica reports master_link_status:%s", r["master_link_status"])
	}
	return nil
}

// infoReplication returns the fields of s's INFO replication.
func infoReplication(ctx context.Context, s *RedisServer) (map[string]string, error) {
	v, err := redisDo(ctx, s.Addr, s.Password, "INFO", "replication")
	var info string
	if err == nil {
		info, err = replyString(v)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: info replication: %w", s.Addr, err)
	}
	fields := make(map[string]string)
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[k] = v
		}
	}
	return fields, nil
}

// waitFor polls probe for at most readyTimeout while all of servers run, and
// fails t naming what, with the servers' logs, if it never succeeds.
func waitFor(t testing.TB, what string, probe func(context.Context) error, servers ...*RedisServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	err := waitReady(ctx, probe, func() bool {
		for _, s := range servers {
			if !s.alive() {
				return false
			}
		}
		return true
	})
	if err != nil {
		var logs strings.Builder
		for _, s := range servers {
			fmt.Fprintf(&logs, "--- %s:\n%s\n", s.name, tail(s.Logs(), 2000))
		}
		t.Fatalf("harness: waiting for %s: %v\n%s", what, err, logs.String())
	}
}

// WaitMaster waits until the sentinel names want as the master and want itself
// reports role:master, that is until a failover to want (Replica, after
// Master was killed) has completed; it returns an error saying what the
// sentinel names instead when ctx ends first.
func (s *RedisSentinelServer) WaitMaster(ctx context.Context, want *RedisServer) error {
	err := waitReady(ctx, func(ctx context.Context) error {
		if err := sentinelNames(ctx, s.SentinelAddrs[0], want.Addr); err != nil {
			return err
		}
		info, err := infoReplication(ctx, want)
		if err != nil {
			return err
		}
		if info["role"] != "master" {
			return fmt.Errorf("sentinel names %s but it reports role:%s", want.Addr, info["role"])
		}
		return nil
	}, s.Sentinel.alive)
	if err != nil {
		return fmt.Errorf("harness: %s not master: %w", want.Addr, err)
	}
	return nil
}
