package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RedisImage is the official image used when Docker is available.
const RedisImage = "redis:7.0"

// RedisServer is a running Redis for one test.
type RedisServer struct {
	lifecycle
	// Addr is host:port of the server.
	Addr string
	// Password is the requirepass password, "" when the server is open.
	Password string
}

var _ Server = (*RedisServer)(nil)

// Redis starts a Redis server for t and stops it when t ends. It skips t when
// neither Docker nor redis-server is available (fails it with RULESYNC_REQUIRE_SERVERS=1).
func Redis(t testing.TB, opts ...Option) *RedisServer {
	t.Helper()
	cfg := newConfig(opts)
	return start(t, "redis", func(m string) (*RedisServer, error) { return newRedis(t, m, cfg) })
}

func newRedis(t testing.TB, m string, cfg config) (*RedisServer, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	s := &RedisServer{Addr: loopback(ports[0]), Password: cfg.password}
	s.name = "redis " + s.Addr
	if m == "docker" {
		appendonly := "no"
		if cfg.persist {
			appendonly = "yes"
		}
		args := []string{"--save", "", "--appendonly", appendonly, "--appendfsync", "always"}
		if cfg.password != "" {
			args = append(args, "--requirepass", cfg.password)
		}
		s.b = newContainer(RedisImage, "6379/tcp", ports[0], append([]string{"redis-server"}, args...)...)
		s.ready = s.ping
		return s, nil
	}
	return newLocalRedis(t, s, ports[0], cfg)
}

// newLocalRedis makes s a local redis-server on port, with a config file in a
// private temp directory that is also its working directory (so relative
// paths in extra, further config lines, land there).
func newLocalRedis(t testing.TB, s *RedisServer, port int, cfg config, extra ...string) (*RedisServer, error) {
	bin, err := lookBinary("redis-server")
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	appendonly := "no"
	if cfg.persist {
		appendonly = "yes"
	}
	// A config file keeps the password out of the process list.
	lines := append(baseConf(port, dir),
		`save ""`,
		"appendonly "+appendonly,
		"appendfsync always",
	)
	if cfg.password != "" {
		lines = append(lines, "requirepass "+redisQuote(cfg.password))
	}
	lines = append(lines, extra...)
	confPath, err := writeConf(dir, "redis.conf", lines)
	if err != nil {
		return nil, err
	}
	s.b = newProcess(bin, dir, confPath)
	if s.ready == nil {
		s.ready = s.ping
	}
	return s, nil
}

// baseConf is the start of every config file the harness writes for a local
// redis-server, sentinels included: loopback only, in the foreground, logging
// to stdout (which the harness captures), working in dir.
func baseConf(port int, dir string) []string {
	return []string{
		"port " + fmt.Sprint(port),
		"bind 127.0.0.1",
		"daemonize no",
		`logfile ""`,
		"dir " + dir,
	}
}

// writeConf writes a redis.conf-style file of lines into dir, readable and
// writable by the owner only: it may hold a password, and Sentinel rewrites
// its own file.
func writeConf(dir, name string, lines []string) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("harness: write %s: %w", name, err)
	}
	return path, nil
}

// ping checks that the server answers PING with PONG, after AUTH when it has
// a password: a server that accepts connections but not the password is not
// ready for the tests.
func (s *RedisServer) ping(ctx context.Context) error {
	v, err := redisDo(ctx, s.Addr, s.Password, "PING")
	if err != nil {
		return err
	}
	if v != "PONG" {
		return fmt.Errorf("PING answered %v, want PONG", v)
	}
	return nil
}

// redisQuote quotes a config value the way redis.conf parses double-quoted strings.
func redisQuote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}
