package harness

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// ConsulVersion is the Consul release scripts/setup-consul.sh builds: MPL-2.0,
// and the newest release whose dependencies are all usable here.
const ConsulVersion = "v1.14.11"

// consulProbeTimeout bounds one request the harness makes itself (readiness,
// ACL set-up), also where no context is passed (PrefixToken).
const consulProbeTimeout = 2 * time.Second

// ConsulServer is a running single-node Consul agent (a server) for one test.
//
// By default it runs in dev mode: an in-memory store that elects itself in a
// fraction of a second and comes back empty after Kill or Restart, like Redis
// without persistence. WithPersistence runs a real server with a data
// directory (-server -bootstrap-expect 1) that keeps keys and ACL state across
// Kill and Restart. WithACL enables ACLs with default deny.
type ConsulServer struct {
	lifecycle
	// Addr is host:port of the HTTP API.
	Addr string
	// Token is the management token's secret when ACLs are enabled (WithACL):
	// it may do anything. It stays the same across Restart. "" without ACLs.
	Token string
	// DataDir is the agent's data directory with WithPersistence, "" in dev mode.
	DataDir string

	acl   bool
	probe *api.Client // management client with a short timeout, for readiness
	tr    *http.Transport

	grantMu sync.Mutex
	grants  []*consulGrant
}

var _ Server = (*ConsulServer)(nil)

// KeyPolicy is the access a token made by PrefixToken has to the keys under
// its prefix; the values are Consul's own policy words.
type KeyPolicy string

// Key policies for PrefixToken.
const (
	// KeyRead may read and block on the keys, and list them.
	KeyRead KeyPolicy = "read"
	// KeyWrite may also create, change and delete them (CAS included).
	KeyWrite KeyPolicy = "write"
)

// consulGrant is a policy and token made by PrefixToken, remembered so that a
// dev-mode server, which forgets them on restart, gets them back.
type consulGrant struct {
	name, rules      string
	accessor, secret string
}

// WithACL enables Consul's ACL system with default_policy "deny", bootstrapped
// with a management token (ConsulServer.Token) that works before Consul
// returns. Other servers ignore it.
func WithACL() Option { return func(c *config) { c.acl = true } }

// Consul starts a Consul agent for t and stops it when t ends. It returns once
// the agent has elected itself leader and answers KV reads (and, with WithACL,
// once ACLs are bootstrapped). It always runs the local binary, built by
// scripts/setup-consul.sh into ~/.cache/rulesync/bin (or found on PATH), and
// skips t when there is none (fails it with RULESYNC_REQUIRE_SERVERS=1).
//
// Consul has no passwords: WithPassword and WithUser fail t; use WithACL.
func Consul(t testing.TB, opts ...Option) *ConsulServer {
	t.Helper()
	cfg := newConfig(opts)
	if cfg.password != "" || cfg.user != "root" {
		t.Fatal("harness: Consul has no password or user; use WithACL for tokens")
	}
	return start(t, "consul", func(string) (*ConsulServer, error) { return newConsul(t, cfg) })
}

// consulBinary finds the agent: the one setup-consul.sh builds first, so that
// an unrelated consul on PATH (another version, another licence) loses.
func consulBinary() (string, error) {
	var cached string
	if home, err := os.UserHomeDir(); err == nil {
		cached = filepath.Join(home, ".cache", "rulesync", "bin", "consul")
		if fi, err := os.Stat(cached); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return cached, nil
		}
	}
	p, err := exec.LookPath("consul")
	if err != nil {
		return "", fmt.Errorf("%w: consul not in %s and not on PATH (run scripts/setup-consul.sh): %v", errUnavailable, cached, err)
	}
	return p, nil
}

func newConsul(t testing.TB, cfg config) (*ConsulServer, error) {
	bin, err := consulBinary()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	s := &ConsulServer{Addr: loopback(ports[0]), acl: cfg.acl}
	s.name = "consul " + s.Addr
	s.ready = s.probeReady

	conf := map[string]any{
		"node_name":            "harness",
		"bind_addr":            "127.0.0.1",
		"client_addr":          "127.0.0.1",
		"log_level":            "info",
		"disable_update_check": true, // no calls home from a test machine
		"ports": map[string]int{
			"http":     ports[0],
			"serf_lan": ports[1],
			"serf_wan": ports[2],
			"server":   ports[3],
			// Off: not used by the KV API, and their fixed defaults would
			// collide between servers running side by side.
			"dns":      -1,
			"grpc":     -1,
			"grpc_tls": -1,
			"https":    -1,
		},
	}
	if cfg.acl {
		if s.Token, err = newUUID(); err != nil {
			return nil, err
		}
		conf["acl"] = map[string]any{
			"enabled":        true,
			"default_policy": "deny",
			"tokens": map[string]string{
				// Bootstraps the ACL system with a secret of our choosing:
				// the leader creates this management token whenever it is
				// missing, so a dev-mode restart gets the same one back.
				// (The bootstrap API of 1.14 ignores a requested secret
				// and makes a random one.)
				"initial_management": s.Token,
				// The agent's own catalog updates need a token under
				// default deny; without one it logs a warning every few
				// seconds.
				"agent": s.Token,
			},
		}
	}
	args := []string{"agent", "-config-file", filepath.Join(dir, "consul.json")}
	if cfg.persist {
		s.DataDir = filepath.Join(dir, "data")
		// raft_multiplier 1 is Consul's production timing; the default (5)
		// makes a single server wait seconds before it elects itself.
		conf["performance"] = map[string]int{"raft_multiplier": 1}
		args = append(args, "-server", "-bootstrap-expect", "1", "-data-dir", s.DataDir)
	} else {
		args = append(args, "-dev")
	}
	raw, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, err
	}
	// Owner only: it holds the management token.
	if err := os.WriteFile(filepath.Join(dir, "consul.json"), raw, 0o600); err != nil {
		return nil, fmt.Errorf("harness: write consul.json: %w", err)
	}

	s.tr = http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(s.tr.CloseIdleConnections)
	pc := s.config(s.Token)
	pc.HttpClient = &http.Client{Transport: s.tr, Timeout: consulProbeTimeout}
	if s.probe, err = api.NewClient(pc); err != nil {
		return nil, err
	}
	s.b = newProcess(bin, dir, args...)
	return s, nil
}

// config is a client configuration for the server with token. It sets every
// field NewClient would otherwise take from CONSUL_HTTP_* variables, except
// Token when token is "" (NewClient then reads CONSUL_HTTP_TOKEN).
func (s *ConsulServer) config(token string) *api.Config {
	return &api.Config{Address: s.Addr, Scheme: "http", Token: token}
}

// Config returns a client configuration for the server, with the management
// token when ACLs are enabled. Set Token to act as another token; an empty
// Token lets the client fall back to CONSUL_HTTP_TOKEN, as api.NewClient does.
func (s *ConsulServer) Config() *api.Config {
	c := s.config(s.Token)
	c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	return c
}

// Client returns a client for the server acting with the management token
// (none without ACLs). Its idle connections are closed when t ends.
func (s *ConsulServer) Client(t testing.TB) *api.Client {
	t.Helper()
	return s.TokenClient(t, s.Token)
}

// TokenClient returns a client acting with token ("" for the anonymous token,
// unless CONSUL_HTTP_TOKEN is set). Its idle connections are closed when t ends.
func (s *ConsulServer) TokenClient(t testing.TB, token string) *api.Client {
	t.Helper()
	c := s.Config()
	c.Token = token
	tr := c.Transport
	client, err := api.NewClient(c)
	if err != nil {
		t.Fatalf("harness: consul client: %v", err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return client
}

// PrefixToken creates a policy granting policy on every key under prefix and
// a token holding only that policy, and returns the token's secret. The
// server must run WithACL. Tokens outlive Restart: a persistent server keeps
// them, a dev-mode one gets them back with the same secrets.
func (s *ConsulServer) PrefixToken(t testing.TB, prefix string, policy KeyPolicy) string {
	t.Helper()
	if !s.acl {
		t.Fatal("harness: PrefixToken needs a Consul started WithACL")
	}
	if policy != KeyRead && policy != KeyWrite {
		t.Fatalf("harness: PrefixToken: key policy %q: want KeyRead or KeyWrite", policy)
	}
	// JSON rather than HCL: any prefix is quoted correctly.
	rules, err := json.Marshal(map[string]any{
		"key_prefix": map[string]any{prefix: map[string]string{"policy": string(policy)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := &consulGrant{rules: string(rules)}
	if g.accessor, err = newUUID(); err == nil {
		g.secret, err = newUUID()
	}
	if err != nil {
		t.Fatal(err)
	}
	s.grantMu.Lock()
	defer s.grantMu.Unlock()
	g.name = fmt.Sprintf("harness-%d-%s", len(s.grants), policy)
	if err := s.applyGrant(context.Background(), g); err != nil {
		t.Fatalf("harness: consul token for %q (%s): %v", prefix, policy, err)
	}
	s.grants = append(s.grants, g)
	return g.secret
}

// applyGrant creates what of g the server lacks: everything on a dev-mode
// server after a restart, nothing on a persistent one. Callers hold grantMu.
func (s *ConsulServer) applyGrant(ctx context.Context, g *consulGrant) error {
	q := (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx)
	_, _, err := s.probe.ACL().TokenRead(g.accessor, q)
	if err == nil {
		return nil
	}
	if !isACLNotFound(err) {
		return fmt.Errorf("read token for %s: %w", g.name, err)
	}
	wo := (&api.WriteOptions{}).WithContext(ctx)
	p, _, err := s.probe.ACL().PolicyReadByName(g.name, q)
	if err != nil && !isACLNotFound(err) {
		return fmt.Errorf("read policy %s: %w", g.name, err)
	}
	if p == nil {
		if _, _, err := s.probe.ACL().PolicyCreate(&api.ACLPolicy{Name: g.name, Rules: g.rules}, wo); err != nil {
			return fmt.Errorf("create policy %s: %w", g.name, err)
		}
	}
	tok := &api.ACLToken{
		AccessorID:  g.accessor,
		SecretID:    g.secret,
		Description: "harness " + g.name,
		Policies:    []*api.ACLTokenPolicyLink{{Name: g.name}},
	}
	if _, _, err := s.probe.ACL().TokenCreate(tok, wo); err != nil {
		return fmt.Errorf("create token for %s: %w", g.name, err)
	}
	return nil
}

// probeReady succeeds once the agent has a leader whose state store has caught
// up, the management token (with ACLs) works and every PrefixToken grant
// exists.
//
// Every read here is consistent: right after an election the leader answers
// default reads from a state store that may not have replayed its log yet (a
// key written before a restart reads as missing for a few milliseconds, seen
// in 2 of 12 restarts); a consistent read waits until it has.
func (s *ConsulServer) probeReady(ctx context.Context) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	leader, err := s.probe.Status().LeaderWithQueryOptions(q)
	if err != nil {
		return err
	}
	if leader == "" {
		return errors.New("no leader yet")
	}
	q.RequireConsistent = true
	// With ACLs this also waits for the management token: 403 "ACL not
	// found" until the leader has created it from initial_management.
	if _, _, err := s.probe.KV().Get("harness-ready", q); err != nil {
		return err
	}
	if s.acl {
		s.grantMu.Lock()
		defer s.grantMu.Unlock()
		for _, g := range s.grants {
			if err := s.applyGrant(ctx, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// isACLNotFound reports the 403 Consul answers for a token or policy it does
// not know.
func isACLNotFound(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.Code == http.StatusForbidden && strings.Contains(se.Body, "ACL not found")
}

// newUUID returns a random (version 4) UUID: the form Consul wants for token
// secrets and accessor IDs.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("harness: random token: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// String names the server without its token.
func (s *ConsulServer) String() string {
	mode := "dev"
	if s.DataDir != "" {
		mode = "persistent"
	}
	if s.acl {
		mode += ", acl"
	}
	return "consul " + s.Addr + " (" + mode + ")"
}
