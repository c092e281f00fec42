package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Env variables read by the harness.
const (
	// EnvRequireServers set to "1" turns a missing server into a test failure.
	EnvRequireServers = "RULESYNC_REQUIRE_SERVERS"
	// EnvServers selects how servers run: "auto" (default), "docker" or "local".
	EnvServers = "RULESYNC_SERVERS"
)

// readyTimeout bounds how long a server may take to answer after start. It is
// generous because the test machines are shared and slow under load.
const readyTimeout = 30 * time.Second

// Server is what every harness server offers for fault tests. Methods return
// errors instead of failing the test so that they can be called from any
// goroutine; Cleanup still stops the server when the test ends.
type Server interface {
	// Stop shuts the server down gracefully (SIGTERM, then SIGKILL after a grace period).
	Stop() error
	// Kill stops the server with SIGKILL: clients see connections drop mid-stream.
	Kill() error
	// Restart starts the server again on the same port with the same data
	// directory, stopping it first if it still runs, and waits until it answers.
	Restart() error
	// Pause freezes the server (SIGSTOP; docker pause for a container):
	// connections stay open but nothing answers, like a network partition.
	// Resume (SIGCONT, docker unpause) undoes it.
	Pause() error
	// Resume continues a paused server.
	Resume() error
	// Logs returns what the server printed so far (for failure messages).
	Logs() string
}

// Option adjusts a server started by the harness.
type Option func(*config)

type config struct {
	user     string
	password string
	persist  bool
	replica  bool
	acl      bool
	tls      bool
}

// WithPassword protects the server: Redis runs with requirepass, etcd with auth
// enabled and a root user holding this password, Nacos with its auth system on
// and an admin user holding this password.
func WithPassword(password string) Option { return func(c *config) { c.password = password } }

// WithUser names the user for WithPassword where the server has users (etcd:
// default "root"; Nacos: default "nacos"). Redis ignores it: requirepass
// belongs to the "default" user.
func WithUser(user string) Option { return func(c *config) { c.user = user } }

// WithPersistence makes Redis keep its data across Kill and Restart (append-only
// file, fsync on every write), like a Redis deployed with AOF. etcd always
// persists; the option changes nothing there.
func WithPersistence() Option { return func(c *config) { c.persist = true } }

// WithReplica gives RedisSentinel's master one replica, which the sentinel can
// promote: killing the master then causes a real failover. It costs a full
// sync at start, so only failover tests ask for it. Other servers ignore it.
func WithReplica() Option { return func(c *config) { c.replica = true } }

// WithTLS makes Consul serve its HTTP API over TLS too, on a port of its
// own, with a certificate for 127.0.0.1 signed by a fresh test CA
// (ConsulServer.HTTPSAddr, ConsulServer.TLS). Other servers ignore it.
func WithTLS() Option { return func(c *config) { c.tls = true } }

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	return c
}

// userOr is the configured user, or def when WithUser was not given.
func (c config) userOr(def string) string {
	if c.user == "" {
		return def
	}
	return c.user
}

// backend runs one server process or container.
type backend interface {
	start(ctx context.Context) error
	stop(graceful bool) error
	running() bool
	logs() string
	// remove frees what survives a stop (a stopped container); processes have nothing.
	remove()
	// pause freezes (true) or continues (false) the server.
	pause(bool) error
}

// errUnavailable marks a server that cannot run here (binary missing, no Docker):
// the test is skipped unless EnvRequireServers is set.
var errUnavailable = errors.New("server unavailable")

// unavailable skips or fails t for a server that cannot be had.
func unavailable(t testing.TB, name string, err error) {
	t.Helper()
	if os.Getenv(EnvRequireServers) == "1" {
		t.Fatalf("harness: %s required (%s=1) but unavailable: %v", name, EnvRequireServers, err)
	}
	t.Skipf("harness: %s unavailable, skipping (set %s=1 to fail instead): %v", name, EnvRequireServers, err)
}

// mode decides between Docker and local binaries.
func mode() (string, error) {
	switch m := os.Getenv(EnvServers); m {
	case "", "auto":
		if dockerHealthy() {
			return "docker", nil
		}
		return "local", nil
	case "docker", "local":
		return m, nil
	default:
		return "", fmt.Errorf("harness: %s=%q: want auto, docker or local", EnvServers, m)
	}
}

// lookBinary finds name on PATH, wrapping errUnavailable when it is missing.
func lookBinary(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s not on PATH (run scripts/setup-servers.sh): %v", errUnavailable, name, err)
	}
	return p, nil
}

// freePorts reserves n distinct loopback ports. The listeners are closed before
// returning, so another process can grab a port in between; callers retry start
// on a bind failure.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("harness: reserve port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// lifecycle implements Server on top of a backend and a readiness probe.
type lifecycle struct {
	name  string
	mu    sync.Mutex
	b     backend
	ready func(ctx context.Context) error
}

func (l *lifecycle) Stop() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.stop(true)
}

func (l *lifecycle) Kill() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.stop(false)
}

func (l *lifecycle) Restart() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.running() {
		if err := l.b.stop(true); err != nil {
			return err
		}
	}
	return l.startLocked()
}

func (l *lifecycle) backend() backend { return l.b }

// alive reports whether the server runs; locked because a fault test may
// Kill or Restart it from another goroutine.
func (l *lifecycle) alive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.running()
}

func (l *lifecycle) Pause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.pause(true)
}

func (l *lifecycle) Resume() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.pause(false)
}

func (l *lifecycle) Logs() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.logs()
}

func (l *lifecycle) startLocked() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := l.b.start(ctx); err != nil {
		return fmt.Errorf("harness: start %s: %w", l.name, err)
	}
	if err := waitReady(ctx, l.ready, l.b.running); err != nil {
		l.b.stop(false)
		return fmt.Errorf("harness: %s not ready: %w\n%s", l.name, err, tail(l.b.logs(), 2000))
	}
	return nil
}

// errExited: the server process ended before it answered (a port taken by
// someone else, typically); waiting longer is pointless.
var errExited = errors.New("server exited during start-up")

// waitReady polls probe until it succeeds, ctx ends or the server is no
// longer running.
func waitReady(ctx context.Context, probe func(context.Context) error, running func() bool) error {
	var last error
	for {
		if !running() {
			return errExited
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		last = probe(pctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe error: %v)", ctx.Err(), last)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func isUnavailable(err error) bool { return errors.Is(err, errUnavailable) }

// starter is a server type the generic start helper can run.
type starter interface {
	Server
	startLocked() error
	backend() backend
}

// start builds a server with build and starts it, registering its shutdown
// with t.Cleanup. It retries with fresh ports because a reserved port can be
// taken by another process before the server binds it, and in auto mode falls
// back from Docker to the local binary when a container does not come up (no
// registry, for instance).
func start[S starter](t testing.TB, name string, build func(mode string) (S, error)) S {
	t.Helper()
	m, err := mode()
	if err != nil {
		t.Fatal(err)
	}
	auto := os.Getenv(EnvServers) == "" || os.Getenv(EnvServers) == "auto"
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := build(m)
		if err != nil {
			if isUnavailable(err) {
				unavailable(t, name, err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = s.Kill()
			s.backend().remove()
		})
		if last = s.startLocked(); last == nil {
			return s
		}
		_ = s.Kill()
		s.backend().remove()
		// Fall back only when a container is what failed: cluster and
		// sentinel nodes run the local binary whatever the mode.
		if _, ctr := s.backend().(*containerBackend); ctr && auto {
			t.Logf("harness: %s container failed, falling back to the local binary: %v", name, last)
			m = "local"
		}
	}
	t.Fatal(last)
	var zero S
	return zero
}
