package harness

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
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

// probe reads a key, authenticated when auth is on: a linearizable range
// needs a leader, and with auth it also proves that the credentials work.
func (s *EtcdServer) probe(ctx context.Context) error {
	token, err := s.token(ctx)
	if err != nil {
		return err
	}
	_, err = etcdGet(ctx, s.Endpoints[0], token, "harness-ready")
	return err
}

// token authenticates as User when auth is on; "" otherwise.
func (s *EtcdServer) token(ctx context.Context) (string, error) {
	if !s.authOn.Load() {
		return "", nil
	}
	return etcdAuthenticate(ctx, s.Endpoints[0], s.User, s.Password)
}

// enableAuth creates user with the root role (and a root user with the same
// password, which etcd requires, when user is another name) and turns auth
// on; etcd keeps this in its data directory, so restarts need nothing more.
func (s *EtcdServer) enableAuth(user, password string) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	ep := s.Endpoints[0]
	if err := etcdCall(ctx, ep, "", "/v3/auth/role/add", map[string]string{"name": "root"}, nil); err != nil && !etcdErrorIs(err, "role name already exists") {
		return fmt.Errorf("add role root: %w", err)
	}
	users := []string{user}
	if user != "root" {
		// etcd refuses to enable auth until a user named root exists.
		users = append(users, "root")
	}
	for _, u := range users {
		if err := etcdCall(ctx, ep, "", "/v3/auth/user/add", map[string]string{"name": u, "password": password}, nil); err != nil {
			return fmt.Errorf("add user %s: %w", u, err)
		}
		if err := etcdCall(ctx, ep, "", "/v3/auth/user/grant", map[string]string{"user": u, "role": "root"}, nil); err != nil {
			return fmt.Errorf("grant root to %s: %w", u, err)
		}
	}
	if err := etcdCall(ctx, ep, "", "/v3/auth/enable", struct{}{}, nil); err != nil {
		return fmt.Errorf("auth enable: %w", err)
	}
	s.User, s.Password = user, password
	s.authOn.Store(true)
	return nil
}

// String names the server without credentials.
func (s *EtcdServer) String() string { return "etcd " + strings.Join(s.Endpoints, ",") }
