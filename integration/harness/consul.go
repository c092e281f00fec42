package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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
	// HTTPSAddr is host:port of the HTTP API over TLS with WithTLS, else "".
	// The plain HTTP API (Addr) stays on.
	HTTPSAddr string
	// TLS names the test CA and the server's certificate with WithTLS.
	TLS TLSFiles

	acl bool
	// http carries the harness's own requests (readiness, ACL set-up); its
	// idle connections are closed when the test ends.
	http *http.Client

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
	if cfg.password != "" || cfg.user != "" {
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
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	s := &ConsulServer{Addr: loopback(ports[0]), acl: cfg.acl}
	https := -1
	if cfg.tls {
		if s.TLS, err = newTLSFiles(dir); err != nil {
			return nil, err
		}
		https, s.HTTPSAddr = ports[4], loopback(ports[4])
	}
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
			"https":    https,
		},
	}
	if cfg.tls {
		// Clients are not asked for certificates: the tests check that a
		// client verifies the server.
		conf["tls"] = map[string]any{"defaults": map[string]any{
			"ca_file": s.TLS.CAFile, "cert_file": s.TLS.CertFile, "key_file": s.TLS.KeyFile,
			"verify_incoming": false,
		}}
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

	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	s.http = &http.Client{Transport: tr, Timeout: consulProbeTimeout}
	s.b = newProcess(bin, dir, args...)
	return s, nil
}

// URL returns the base URL of the agent's HTTP API: "http://127.0.0.1:PORT".
func (s *ConsulServer) URL() string { return "http://" + s.Addr }

// ConsulError is an error answer of Consul's HTTP API: its status and body.
// The body of a refusal names the permission that is missing and the token's
// accessor, never its secret.
type ConsulError struct {
	Status int
	Body   string
}

func (e *ConsulError) Error() string {
	return fmt.Sprintf("consul: HTTP %d: %s", e.Status, e.Body)
}

// consulMaxResponse bounds an answer the harness reads: it reads small ones.
const consulMaxResponse = 1 << 20

// callJSON is call with v, encoded as JSON, as the body.
func (s *ConsulServer) callJSON(ctx context.Context, method, path, token string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, _, err = s.call(ctx, method, path, nil, token, raw)
	return err
}

// call sends one request to the agent's HTTP API as token ("" for none), with
// body unless it is nil, and returns the answer's body and X-Consul-Index. A
// status other than 200 is a *ConsulError.
func (s *ConsulServer) call(ctx context.Context, method, path string, query url.Values, token string, body []byte) ([]byte, string, error) {
	return s.do(ctx, s.http, method, path, query, token, body)
}

// do is call through client.
func (s *ConsulServer) do(ctx context.Context, client *http.Client, method, path string, query url.Values, token string, body []byte) ([]byte, string, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := s.URL() + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, "", err
	}
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, consulMaxResponse))
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode != http.StatusOK {
		return data, res.Header.Get("X-Consul-Index"), &ConsulError{Status: res.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	return data, res.Header.Get("X-Consul-Index"), nil
}

// consistent is the query of a consistent read.
var consistent = url.Values{"consistent": {""}}

// PrefixToken creates a policy granting policy on every key under prefix and
// a token holding only that policy, and returns the token's secret (send it
// as X-Consul-Token, or give it to a client as its token). The server must
// run WithACL. Tokens outlive Restart: a persistent server keeps them, a
// dev-mode one gets them back with the same secrets.
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
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := s.applyGrant(ctx, g); err != nil {
		t.Fatalf("harness: consul token for %q (%s): %v", prefix, policy, err)
	}
	s.grants = append(s.grants, g)
	return g.secret
}

// Accessor returns the accessor ID of a token PrefixToken made, given its
// secret, or "" for a secret it did not make. Consul names the accessor, not
// the secret, when it refuses a token.
func (s *ConsulServer) Accessor(secret string) string {
	s.grantMu.Lock()
	defer s.grantMu.Unlock()
	for _, g := range s.grants {
		if g.secret == secret {
			return g.accessor
		}
	}
	return ""
}

// applyGrant creates what of g the server lacks: everything on a dev-mode
// server after a restart, nothing on a persistent one. Callers hold grantMu.
func (s *ConsulServer) applyGrant(ctx context.Context, g *consulGrant) error {
	_, _, err := s.call(ctx, http.MethodGet, "/v1/acl/token/"+g.accessor, consistent, s.Token, nil)
	if err == nil {
		return nil
	}
	if !isACLNotFound(err) {
		return fmt.Errorf("read token for %s: %w", g.name, err)
	}
	_, _, err = s.call(ctx, http.MethodGet, "/v1/acl/policy/name/"+url.PathEscape(g.name), consistent, s.Token, nil)
	switch {
	case isACLNotFound(err):
		policy := map[string]string{"Name": g.name, "Rules": g.rules}
		if err := s.callJSON(ctx, http.MethodPut, "/v1/acl/policy", s.Token, policy); err != nil {
			return fmt.Errorf("create policy %s: %w", g.name, err)
		}
	case err != nil:
		return fmt.Errorf("read policy %s: %w", g.name, err)
	}
	tok := map[string]any{
		"AccessorID":  g.accessor,
		"SecretID":    g.secret,
		"Description": "harness " + g.name,
		"Policies":    []map[string]string{{"Name": g.name}},
	}
	if err := s.callJSON(ctx, http.MethodPut, "/v1/acl/token", s.Token, tok); err != nil {
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
	raw, _, err := s.call(ctx, http.MethodGet, "/v1/status/leader", nil, s.Token, nil)
	if err != nil {
		return err
	}
	var leader string
	if err := json.Unmarshal(raw, &leader); err != nil {
		return fmt.Errorf("status/leader: %w", err)
	}
	if leader == "" {
		return errors.New("no leader yet")
	}
	// With ACLs this also waits for the management token: 403 "ACL not
	// found" until the leader has created it from initial_management.
	_, _, err = s.call(ctx, http.MethodGet, "/v1/kv/harness-ready", consistent, s.Token, nil)
	var ce *ConsulError
	if err != nil && !(errors.As(err, &ce) && ce.Status == http.StatusNotFound) {
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

// isACLNotFound reports the answer Consul gives for a token or policy it does
// not know: 403 "ACL not found" (a lookup by ID) or 404 (by name).
func isACLNotFound(err error) bool {
	var ce *ConsulError
	return errors.As(err, &ce) && (ce.Status == http.StatusNotFound ||
		ce.Status == http.StatusForbidden && strings.Contains(ce.Body, "ACL not found"))
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
	if s.HTTPSAddr != "" {
		mode += ", https " + s.HTTPSAddr
	}
	return "consul " + s.Addr + " (" + mode + ")"
}
