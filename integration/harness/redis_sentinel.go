package harness

import (
	"context"
	"fmt"
	"net"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// SentinelMasterName is the name under which RedisSentinel's sentinel
// monitors its master.
const SentinelMasterName = "mymaster"

// RedisSentinelServer is a Redis master watched by one Sentinel, for one test.
// It has no replicas, so the sentinel never fails over: a killed master is
// the same master when it comes back, which is what the fault tests expect.
// Like RedisCluster it always runs the local redis-server binary, since the
// sentinel must reach the master at the address it hands to clients.
type RedisSentinelServer struct {
	// Master is the monitored master; fault tests kill and restart it.
	Master *RedisServer
	// Sentinel is the sentinel process (redis-server --sentinel). Talk to it
	// with SentinelClient: it answers SENTINEL commands, not data commands.
	Sentinel *RedisServer
	// MasterName is the name clients ask the sentinel for.
	MasterName string
	// SentinelAddrs are the sentinels' host:port.
	SentinelAddrs []string
	// Password is the master's requirepass, "" when it is open. The sentinel
	// itself has no password.
	Password string
}

// RedisSentinel starts a Redis master and a Sentinel monitoring it (quorum 1,
// down after 1 s) for t, and stops both when t ends. It returns once the
// sentinel names the master's address. It skips t when redis-server is missing
// (fails it with RULESYNC_REQUIRE_SERVERS=1). WithPassword and WithPersistence
// apply to the master; the sentinel is given the password to monitor it.
func RedisSentinel(t testing.TB, opts ...Option) *RedisSentinelServer {
	t.Helper()
	cfg := newConfig(opts)
	master := start(t, "redis sentinel", func(string) (*RedisServer, error) {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		s := &RedisServer{Addr: loopback(ports[0]), Password: cfg.password}
		s.name = "redis master " + s.Addr
		return newLocalRedis(t, s, ports[0], cfg)
	})
	sentinel := start(t, "redis sentinel", func(string) (*RedisServer, error) {
		return newSentinel(t, master, cfg)
	})
	return &RedisSentinelServer{
		Master:        master,
		Sentinel:      sentinel,
		MasterName:    SentinelMasterName,
		SentinelAddrs: []string{sentinel.Addr},
		Password:      cfg.password,
	}
}

func newSentinel(t testing.TB, master *RedisServer, cfg config) (*RedisServer, error) {
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
	s.ready = func(ctx context.Context) error { return sentinelNames(ctx, s.Addr, master.Addr) }
	dir := t.TempDir()
	lines := append(baseConf(ports[0], dir),
		fmt.Sprintf("sentinel monitor %s %s %s 1", SentinelMasterName, host, port),
		// The defaults (30 s, 3 min) outlast any test: with these the
		// sentinel flags a dead master within a second and retries a failover
		// (which aborts, for want of a replica) within seconds.
		"sentinel down-after-milliseconds "+SentinelMasterName+" 1000",
		"sentinel failover-timeout "+SentinelMasterName+" 5000",
	)
	if cfg.password != "" {
		lines = append(lines, "sentinel auth-pass "+SentinelMasterName+" "+redisQuote(cfg.password))
	}
	// Sentinel rewrites its config file with what it learns (its ID, epochs),
	// hence a private writable file that Restart reads back.
	conf, err := writeConf(dir, "sentinel.conf", lines)
	if err != nil {
		return nil, err
	}
	s.b = newProcess(bin, dir, conf, "--sentinel")
	return s, nil
}

// sentinelNames checks that the sentinel at addr answers
// SENTINEL GET-MASTER-ADDR-BY-NAME with master.
func sentinelNames(ctx context.Context, addr, master string) error {
	c := goredis.NewSentinelClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	got, err := c.GetMasterAddrByName(ctx, SentinelMasterName).Result()
	if err != nil {
		return err
	}
	if len(got) != 2 || net.JoinHostPort(got[0], got[1]) != master {
		return fmt.Errorf("sentinel names master %v, want %s", got, master)
	}
	return nil
}

// FailoverOptions returns options for a client that finds the master through
// the sentinel.
func (s *RedisSentinelServer) FailoverOptions() *goredis.FailoverOptions {
	return &goredis.FailoverOptions{
		MasterName:    s.MasterName,
		SentinelAddrs: append([]string(nil), s.SentinelAddrs...),
		Password:      s.Password,
	}
}

// FailoverClient returns a go-redis client that asks the sentinel for the
// master, closed when t ends.
func (s *RedisSentinelServer) FailoverClient(t testing.TB) *goredis.Client {
	c := goredis.NewFailoverClient(s.FailoverOptions())
	t.Cleanup(func() { c.Close() })
	return c
}

// SentinelClient returns a client for the sentinel's own commands, closed
// when t ends.
func (s *RedisSentinelServer) SentinelClient(t testing.TB) *goredis.SentinelClient {
	c := goredis.NewSentinelClient(&goredis.Options{Addr: s.SentinelAddrs[0]})
	t.Cleanup(func() { c.Close() })
	return c
}
