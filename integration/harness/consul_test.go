package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The harness's Consul tests speak the HTTP API with the standard library,
// as the harness does: no Consul client enters this module.

// kvPair is one entry of a KV read (GET /v1/kv/<key>); Value is base64 on
// the wire, which encoding/json decodes into []byte.
type kvPair struct {
	Key         string
	Value       []byte
	ModifyIndex uint64
}

// kv reads and writes keys on s as token, through client (nil: the
// harness's own, whose timeout is a few seconds).
type kv struct {
	s      *ConsulServer
	token  string
	client *http.Client
}

func consulCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// get reads key; a missing key is (nil, index, nil).
func (c kv) get(ctx context.Context, key string, q url.Values) (*kvPair, uint64, error) {
	client := c.client
	if client == nil {
		client = c.s.http
	}
	raw, idx, err := c.s.do(ctx, client, http.MethodGet, "/v1/kv/"+key, q, c.token, nil)
	index, _ := strconv.ParseUint(idx, 10, 64)
	var ce *ConsulError
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		return nil, index, nil
	}
	if err != nil {
		return nil, index, err
	}
	var pairs []kvPair
	if err := json.Unmarshal(raw, &pairs); err != nil || len(pairs) != 1 {
		return nil, index, errors.New("unexpected KV answer: " + string(raw))
	}
	return &pairs[0], index, nil
}

// put stores value at key (with ?cas=N when cas >= 0) and returns Consul's
// answer: true, or false for a refused compare-and-set.
func (c kv) put(ctx context.Context, key, value string, cas int64) (bool, error) {
	var q url.Values
	if cas >= 0 {
		q = url.Values{"cas": {strconv.FormatInt(cas, 10)}}
	}
	raw, _, err := c.s.call(ctx, http.MethodPut, "/v1/kv/"+key, q, c.token, []byte(value))
	if err != nil {
		return false, err
	}
	switch strings.TrimSpace(string(raw)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("unexpected PUT answer: " + string(raw))
}

func (s *ConsulServer) kv(token string) kv { return kv{s: s, token: token} }

func TestConsulKVAndCAS(t *testing.T) {
	s := Consul(t)
	c := s.kv(s.Token)
	ctx := consulCtx(t)

	if _, err := c.put(ctx, "rules/flow", "v1", -1); err != nil {
		t.Fatalf("put: %v", err)
	}
	p, _, err := c.get(ctx, "rules/flow", nil)
	if err != nil || p == nil || string(p.Value) != "v1" {
		t.Fatalf("get: %+v %v, want v1", p, err)
	}

	// CAS with the current ModifyIndex wins once; the same index again loses,
	// because the first write moved it. A refusal is 200 "false".
	cur := int64(p.ModifyIndex)
	if ok, err := c.put(ctx, "rules/flow", "v2", cur); err != nil || !ok {
		t.Fatalf("CAS at the current index %d: ok=%v err=%v, want true", cur, ok, err)
	}
	if ok, err := c.put(ctx, "rules/flow", "stale", cur); err != nil || ok {
		t.Fatalf("CAS at a stale index %d: ok=%v err=%v, want false and no error", cur, ok, err)
	}
	if p2, _, err := c.get(ctx, "rules/flow", nil); err != nil || string(p2.Value) != "v2" || p2.ModifyIndex <= p.ModifyIndex {
		t.Fatalf("after CAS: %+v %v, want v2 at an index above %d", p2, err, p.ModifyIndex)
	}

	// Index 0 creates only: refused on an existing key, accepted on a new one, once.
	if ok, err := c.put(ctx, "rules/flow", "clobber", 0); err != nil || ok {
		t.Fatalf("CAS 0 on an existing key: ok=%v err=%v, want false", ok, err)
	}
	for i, want := range []bool{true, false} {
		ok, err := c.put(ctx, "rules/new", "n"+strconv.Itoa(i), 0)
		if err != nil || ok != want {
			t.Fatalf("CAS 0 on rules/new, attempt %d: ok=%v err=%v, want %v", i+1, ok, err, want)
		}
	}
	if p, _, err := c.get(ctx, "rules/new", nil); err != nil || string(p.Value) != "n0" {
		t.Fatalf("rules/new holds %+v %v, want n0 (the refused create must not write)", p, err)
	}
}

func TestConsulBlockingQueryReturnsOnChange(t *testing.T) {
	s := Consul(t)
	c := s.kv(s.Token)
	ctx := consulCtx(t)

	// A missing key answers 404 with an index to block on.
	p, idx, err := c.get(ctx, "rules/watched", nil)
	if err != nil || p != nil || idx == 0 {
		t.Fatalf("get missing key: %+v index=%d err=%v, want nothing with a non-zero index", p, idx, err)
	}

	type result struct {
		p   *kvPair
		idx uint64
		err error
	}
	got := make(chan result, 1)
	go func() {
		// wait far beyond the test's deadline: only a change (or a
		// spurious wake-up, which loops) can end this in time. The
		// harness's own client gives up after a few seconds, so this one
		// has none.
		long := kv{s: s, token: s.Token, client: &http.Client{Transport: s.http.Transport}}
		at := idx
		for {
			q := url.Values{"index": {strconv.FormatUint(at, 10)}, "wait": {"5m"}}
			p, next, err := long.get(ctx, "rules/watched", q)
			if err != nil || p != nil {
				got <- result{p, next, err}
				return
			}
			at = next
		}
	}()
	// Give the query time to reach the server and block; a put before that
	// is no failure either (the index has moved, so the query returns at once).
	time.Sleep(200 * time.Millisecond)
	if _, err := c.put(ctx, "rules/watched", "changed", -1); err != nil {
		t.Fatalf("put: %v", err)
	}
	select {
	case r := <-got:
		if r.err != nil || string(r.p.Value) != "changed" || r.idx <= idx {
			t.Fatalf("blocking get returned %+v index %d err=%v, want \"changed\" at an index above %d", r.p, r.idx, r.err, idx)
		}
	case <-ctx.Done():
		t.Fatal("blocking get did not return after the key changed")
	}
}

// Several rounds, killed and stopped in turn: right after an election a
// Consul leader can answer default reads before it has replayed its log, and
// Restart must not return before that is over.
func TestConsulPersistenceKeepsDataAcrossKill(t *testing.T) {
	s := Consul(t, WithPersistence())
	if s.DataDir == "" {
		t.Fatal("WithPersistence gave no data directory")
	}
	c := s.kv(s.Token)
	ctx := consulCtx(t)
	if _, err := c.put(ctx, "rules/kept", "kept", -1); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr
	for round := range 4 {
		how, stop := "kill", s.Kill
		if round%2 == 1 {
			how, stop = "stop", s.Stop
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.get(ctx, "rules/kept", nil); err == nil {
			t.Fatalf("round %d: get succeeded on a server after %s", round, how)
		}
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		if s.Addr != addr {
			t.Fatalf("restart moved the server from %s to %s", addr, s.Addr)
		}
		// A default (not consistent) read, as most clients make.
		if p, _, err := c.get(ctx, "rules/kept", nil); err != nil || p == nil || string(p.Value) != "kept" {
			t.Fatalf("round %d, after %s and restart: %+v %v, want kept", round, how, p, err)
		}
	}
}

// Dev mode holds data in memory: a restart comes back empty on the same port.
func TestConsulDevRestartComesBackEmpty(t *testing.T) {
	s := Consul(t)
	c := s.kv(s.Token)
	ctx := consulCtx(t)
	if _, err := c.put(ctx, "rules/gone", "v", -1); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if p, _, err := c.get(ctx, "rules/gone", nil); err != nil || p != nil {
		t.Fatalf("after a dev-mode restart: %+v %v, want no key", p, err)
	}
}

func TestConsulPauseResume(t *testing.T) {
	s := Consul(t)
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, _, err := s.kv("").get(ctx, "k", nil)
	cancel()
	if err == nil {
		t.Fatal("get answered by a paused server")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	// Without the short timeout: a loaded machine may take longer than 300 ms
	// to schedule the continued agent.
	if _, _, err := s.kv(s.Token).get(consulCtx(t), "k", nil); err != nil {
		t.Fatalf("get after resume: %v", err)
	}
}

func TestConsulACL(t *testing.T) {
	for _, persist := range []bool{false, true} {
		name := "dev"
		opts := []Option{WithACL()}
		if persist {
			name = "persistent"
			opts = append(opts, WithPersistence())
		}
		t.Run(name, func(t *testing.T) {
			s := Consul(t, opts...)
			if s.Token == "" {
				t.Fatal("WithACL exposed no management token")
			}
			rw := s.PrefixToken(t, "rules/", KeyWrite)
			ro := s.PrefixToken(t, "rules/", KeyRead)
			if s.Accessor(rw) == "" || s.Accessor(ro) == "" || s.Accessor("other") != "" {
				t.Fatalf("Accessor: %q %q %q", s.Accessor(rw), s.Accessor(ro), s.Accessor("other"))
			}
			checkACL(t, s, rw, ro)

			// The management token and both grants survive a kill: a
			// persistent server keeps them, a dev one is given them back.
			if err := s.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := s.Restart(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.call(consulCtx(t), http.MethodGet, "/v1/acl/token/self", nil, s.Token, nil); err != nil {
				t.Fatalf("management token after restart: %v", err)
			}
			checkACL(t, s, rw, ro)
		})
	}
}

// checkACL: rw reads and writes under rules/ only, ro only reads there, and
// no token may do anything. A refusal names the permission and the token's
// accessor, never the secret.
func checkACL(t *testing.T, s *ConsulServer, rw, ro string) {
	t.Helper()
	ctx := consulCtx(t)
	rwKV, roKV, anonKV := s.kv(rw), s.kv(ro), s.kv("")

	if _, err := rwKV.put(ctx, "rules/a", "1", -1); err != nil {
		t.Fatalf("read-write token, put rules/a: %v", err)
	}
	p, _, err := rwKV.get(ctx, "rules/a", nil)
	if err != nil || p == nil || string(p.Value) != "1" {
		t.Fatalf("read-write token, get rules/a: %+v %v", p, err)
	}
	if ok, err := rwKV.put(ctx, "rules/a", "2", int64(p.ModifyIndex)); err != nil || !ok {
		t.Fatalf("read-write token, CAS rules/a: %v %v", ok, err)
	}
	if p, _, err := roKV.get(ctx, "rules/a", nil); err != nil || p == nil || string(p.Value) != "2" {
		t.Fatalf("read-only token, get rules/a: %+v %v", p, err)
	}

	const anonymous = "00000000-0000-0000-0000-000000000002"
	denied := []struct {
		what, secret, want string
		err                error
	}{
		{"read-write token, put outside its prefix", rw, "token with AccessorID '" + s.Accessor(rw) + "' lacks permission 'key:write' on \"other/a\"",
			second(rwKV.put(ctx, "other/a", "x", -1))},
		{"read-only token, put", ro, "token with AccessorID '" + s.Accessor(ro) + "' lacks permission 'key:write' on \"rules/a\"",
			second(roKV.put(ctx, "rules/a", "x", -1))},
		{"read-only token, CAS", ro, "token with AccessorID '" + s.Accessor(ro) + "' lacks permission 'key:write' on \"rules/a\"",
			second(roKV.put(ctx, "rules/a", "x", 1))},
		{"no token, get", "", "token with AccessorID '" + anonymous + "' lacks permission 'key:read' on \"rules/a\"",
			third(anonKV.get(ctx, "rules/a", nil))},
		{"no token, put", "", "token with AccessorID '" + anonymous + "' lacks permission 'key:write' on \"rules/a\"",
			second(anonKV.put(ctx, "rules/a", "x", -1))},
	}
	for _, d := range denied {
		var ce *ConsulError
		if !errors.As(d.err, &ce) || ce.Status != http.StatusForbidden || !strings.Contains(ce.Body, "Permission denied: "+d.want) {
			t.Errorf("%s: %v, want a 403 with %q", d.what, d.err, d.want)
			continue
		}
		if d.secret != "" && strings.Contains(ce.Body, d.secret) {
			t.Errorf("%s: the refusal quotes the secret: %s", d.what, ce.Body)
		}
	}
	if p, _, err := rwKV.get(ctx, "rules/a", nil); err != nil || string(p.Value) != "2" {
		t.Fatalf("after the denied writes rules/a holds %+v %v, want 2", p, err)
	}
	// An unknown token is no token at all.
	if _, _, err := s.kv("0b7e2bb4-5c43-4c3a-8d58-7d3d0e1c9f00").get(ctx, "rules/a", nil); !isACLNotFound(err) {
		t.Errorf("unknown token: %v, want 403 ACL not found", err)
	}
}

// WithTLS: the API answers over TLS to a client that trusts the test CA,
// and a client that does not refuses the server.
func TestConsulTLS(t *testing.T) {
	s := Consul(t, WithTLS())
	if s.HTTPSAddr == "" || s.TLS.CAFile == "" {
		t.Fatalf("WithTLS: %+v", s)
	}
	pem, err := os.ReadFile(s.TLS.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the CA file")
	}
	ctx := consulCtx(t)
	get := func(roots *x509.CertPool) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		defer c.CloseIdleConnections()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+s.HTTPSAddr+"/v1/status/leader", nil)
		if err != nil {
			return err
		}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return errors.New(res.Status)
		}
		return nil
	}
	if err := get(pool); err != nil {
		t.Fatalf("https with the test CA: %v", err)
	}
	var unknown x509.UnknownAuthorityError
	if err := get(x509.NewCertPool()); !errors.As(err, &unknown) {
		t.Fatalf("https without the test CA: %v, want an unknown authority", err)
	}
}

func second[A any](_ A, err error) error        { return err }
func third[A, B any](_ A, _ B, err error) error { return err }

// The binary the harness picks is the pinned release, not some other consul
// on PATH.
func TestConsulBinaryIsPinnedVersion(t *testing.T) {
	bin, err := consulBinary()
	if err != nil {
		unavailable(t, "consul", err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if first != "Consul "+ConsulVersion {
		t.Fatalf("%s reports %q, want %q (run scripts/setup-consul.sh)", bin, first, "Consul "+ConsulVersion)
	}
}

func TestConsulRejectsPassword(t *testing.T) {
	r := run(t, func(tb testing.TB) { Consul(tb, WithPassword("pw")) })
	if !r.failed || !strings.Contains(r.msg, "WithACL") {
		t.Fatalf("failed=%v msg=%q, want a failure pointing at WithACL", r.failed, r.msg)
	}
}

// BenchmarkConsulStart measures start to ready (leader elected, KV answering,
// ACLs bootstrapped where asked) per mode, and the agent's resident memory
// right after.
func BenchmarkConsulStart(b *testing.B) {
	modes := []struct {
		name string
		opts []Option
	}{
		{"dev", nil},
		{"dev-acl", []Option{WithACL()}},
		{"persistent", []Option{WithPersistence()}},
		{"persistent-acl", []Option{WithPersistence(), WithACL()}},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			var rss int
			for b.Loop() {
				s := Consul(b, m.opts...)
				b.StopTimer()
				rss = rssKiB(s.pid())
				if err := s.Kill(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(rss)/1024, "RSS-MiB")
		})
	}
}

// pid is the agent's process id, 0 when it does not run.
func (s *ConsulServer) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.b.(*process); ok && p.running() {
		return p.cmd.Process.Pid
	}
	return 0
}

// rssKiB reads the resident set size of process pid from /proc; 0 where
// there is none.
func rssKiB(pid int) int {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}
