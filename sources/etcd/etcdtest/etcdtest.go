// Package etcdtest connects etcd clients to the servers that
// integration/harness starts, for the tests of this module and of the
// integration suites. The harness itself imports no etcd client (a module
// whose tests use it would inherit the client, gRPC and their dependencies),
// so the clients are made here, in the module that requires them anyway.
package etcdtest

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/rulesync/rulesync/integration/harness"
)

// Config returns a client configuration for s, with its credentials when auth
// is enabled (harness.WithPassword). Its gRPC reconnect backoff is short
// (20 ms growing to 300 ms): gRPC's default waits a second and more between
// attempts, which makes restart and fault tests crawl.
func Config(s *harness.EtcdServer) clientv3.Config {
	c := clientv3.Config{
		Endpoints:   append([]string(nil), s.Endpoints...),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  20 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   300 * time.Millisecond,
			},
			MinConnectTimeout: time.Second,
		})},
	}
	// The harness sets User and Password once auth is on, before Etcd returns.
	if s.Password != "" {
		c.Username, c.Password = s.User, s.Password
	}
	return c
}

// Client returns a client for s, closed when t ends.
func Client(t testing.TB, s *harness.EtcdServer) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(Config(s))
	if err != nil {
		t.Fatalf("etcdtest: etcd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
