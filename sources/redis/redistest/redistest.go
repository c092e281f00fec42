// Package redistest connects go-redis clients to the servers that
// integration/harness starts, for the tests of this module and of the
// integration suites. The harness itself imports no Redis SDK (a module whose
// tests use it would inherit one), so the clients are made here, in the
// module that requires go-redis anyway.
package redistest

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/integration/harness"
)

// Options returns client options for s: its address and requirepass password.
func Options(s *harness.RedisServer) *goredis.Options {
	return &goredis.Options{Addr: s.Addr, Password: s.Password}
}

// Client returns a client for s, closed when t ends.
func Client(t testing.TB, s *harness.RedisServer) *goredis.Client {
	c := goredis.NewClient(Options(s))
	t.Cleanup(func() { c.Close() })
	return c
}

// ClusterOptions returns cluster client options for c: every node as a seed,
// and the nodes' password.
func ClusterOptions(c *harness.RedisClusterServer) *goredis.ClusterOptions {
	return &goredis.ClusterOptions{Addrs: append([]string(nil), c.Addrs...), Password: c.Password}
}

// ClusterClient returns a cluster client for c, closed when t ends.
func ClusterClient(t testing.TB, c *harness.RedisClusterServer) *goredis.ClusterClient {
	cl := goredis.NewClusterClient(ClusterOptions(c))
	t.Cleanup(func() { cl.Close() })
	return cl
}

// FailoverOptions returns options for a client that finds s's master through
// its sentinel.
func FailoverOptions(s *harness.RedisSentinelServer) *goredis.FailoverOptions {
	return &goredis.FailoverOptions{
		MasterName:    s.MasterName,
		SentinelAddrs: append([]string(nil), s.SentinelAddrs...),
		Password:      s.Password,
	}
}

// FailoverClient returns a client that asks s's sentinel for the master,
// closed when t ends.
func FailoverClient(t testing.TB, s *harness.RedisSentinelServer) *goredis.Client {
	c := goredis.NewFailoverClient(FailoverOptions(s))
	t.Cleanup(func() { c.Close() })
	return c
}

// SentinelClient returns a client for the sentinel's own commands (SENTINEL
// ...), closed when t ends. The sentinel has no password.
func SentinelClient(t testing.TB, s *harness.RedisSentinelServer) *goredis.SentinelClient {
	c := goredis.NewSentinelClient(&goredis.Options{Addr: s.SentinelAddrs[0]})
	t.Cleanup(func() { c.Close() })
	return c
}
