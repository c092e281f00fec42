package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// EtcdImage is the official image used when Docker is available.
const EtcdImage = "gcr.io/etcd-development/etcd:v3.5.17"

// EtcdServer is a running single-member etcd for one test. Its data directory
// survives Kill, Stop and Restart.
type EtcdServer struct {
	lifecycle
	// Endpoints are the client URLs.
	Endpoints []string
	// User and Password are the root credentials when auth is enabled (WithPassword).
	User, Password string

	authOn atomic.Bool
}

var _ Server = (*EtcdServer)(nil)

// Etcd starts an etcd server for t and stops it when t ends. It skips t when
// neither Docker nor the etcd binary is available (fails it with
// RULESYNC_REQUIRE_SERVERS=1). With WithPassword, auth is enabled with a root
// user before Etcd returns.
func Etcd(t testing.TB, opts ...Option) *EtcdServer {
	t.Helper()
	cfg := newConfig(opts)
	s := start(t, "etcd", func(m string) (*EtcdServer, error) { return newEtcd(t, m, cfg) })
	if cfg.password != "" {
		if err := s.enableAuth(cfg.userOr("root"), cfg.password); err != nil {
			t.Fatalf("harness: enable etcd auth: %v", err)
		}
	}
	return s
}

func newEtcd(t testing.TB, m string, cfg config) (*EtcdServer, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	client := "http://" + loopback(ports[0])
	s := &EtcdServer{Endpoints: []string{client}}
	s.name = "etcd " + client
	s.ready = s.probe
	// Short election timeouts: a single member elects itself in ~0.1 s instead of ~1 s.
	common := []string{
		"--name", "harness",
		"--heartbeat-interval", "20",
		"--election-timeout", "200",
		"--snapshot-count", "10000",
	}
	if m == "docker" {
		args := append([]string{"etcd"}, common...)
		args = append(args,
			"--data-dir", "/etcd-data",
			"--listen-client-urls", "http://0.0.0.0:2379",
			"--advertise-client-urls", client,
			"--listen-peer-urls", "http://127.0.0.1:2380",
			"--initial-advertise-peer-urls", "http://127.0.0.1:2380",
			"--initial-cluster", "harness=http://127.0.0.1:2380",
		)
		s.b = newContainer(EtcdImage, "2379/tcp", ports[0], args...)
		return s, nil
	}
	bin, err := lookBinary("etcd")
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	peer := "http://" + loopback(ports[1])
	args := append(common,
		"--data-dir", dir+"/data",
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "harness="+peer,
	)
	s.b = newProcess(bin, dir, args...)
	return s, nil
}

// Config returns a client configuration for the server, with credentials when
// auth is enabled. Its gRPC reconnect backoff is short (20 ms growing to
// 300 ms): gRPC's default waits a second and more between attempts, which makes
// restart and fault tests crawl.
func (s *EtcdServer) Config() clientv3.Config {
	c := clientv3.Config{
		Endpoints:   s.Endpoints,
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
	if s.authOn.Load() {
		c.Username, c.Password = s.User, s.Password
	}
	return c
}

// Client returns a client for the server, closed when t ends.
func (s *EtcdServer) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(s.Config())
	if err != nil {
		t.Fatalf("harness: etcd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *EtcdServer) probe(ctx context.Context) error {
	c, err := clientv3.New(s.Config())
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Get(ctx, "harness-ready")
	return err
}

// enableAuth creates user with the root role and turns auth on; etcd keeps
// this in its data directory, so restarts need nothing more.
func (s *EtcdServer) enableAuth(user, password string) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	c, err := clientv3.New(s.Config())
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.RoleAdd(ctx, "root"); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		return fmt.Errorf("add role root: %w", err)
	}
	if _, err := c.UserAdd(ctx, user, password); err != nil {
		return fmt.Errorf("add user %s: %w", user, err)
	}
	if _, err := c.UserGrantRole(ctx, user, "root"); err != nil {
		return fmt.Errorf("grant root to %s: %w", user, err)
	}
	if _, err := c.AuthEnable(ctx); err != nil {
		return fmt.Errorf("auth enable: %w", err)
	}
	s.User, s.Password = user, password
	s.authOn.Store(true)
	return nil
}

// String names the server without credentials.
func (s *EtcdServer) String() string { return "etcd " + strings.Join(s.Endpoints, ",") }
