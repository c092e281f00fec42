package harness

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func TestConsulKVAndCAS(t *testing.T) {
	s := Consul(t)
	kv := s.Client(t).KV()

	if _, err := kv.Put(&api.KVPair{Key: "rules/flow", Value: []byte("v1")}, nil); err != nil {
		t.Fatalf("put: %v", err)
	}
	p, _, err := kv.Get("rules/flow", nil)
	if err != nil || p == nil || string(p.Value) != "v1" {
		t.Fatalf("get: %v %v, want v1", p, err)
	}

	// CAS with the current ModifyIndex wins once; the same index again loses,
	// because the first write moved it.
	ok, _, err := kv.CAS(&api.KVPair{Key: "rules/flow", Value: []byte("v2"), ModifyIndex: p.ModifyIndex}, nil)
	if err != nil || !ok {
		t.Fatalf("CAS at the current index %d: ok=%v err=%v, want true", p.ModifyIndex, ok, err)
	}
	ok, _, err = kv.CAS(&api.KVPair{Key: "rules/flow", Value: []byte("stale"), ModifyIndex: p.ModifyIndex}, nil)
	if err != nil || ok {
		t.Fatalf("CAS at a stale index %d: ok=%v err=%v, want false and no error", p.ModifyIndex, ok, err)
	}
	if p2, _, err := kv.Get("rules/flow", nil); err != nil || string(p2.Value) != "v2" || p2.ModifyIndex <= p.ModifyIndex {
		t.Fatalf("after CAS: %+v %v, want v2 at an index above %d", p2, err, p.ModifyIndex)
	}

	// Index 0 creates only: refused on an existing key, accepted on a new one, once.
	ok, _, err = kv.CAS(&api.KVPair{Key: "rules/flow", Value: []byte("clobber")}, nil)
	if err != nil || ok {
		t.Fatalf("CAS 0 on an existing key: ok=%v err=%v, want false", ok, err)
	}
	for i, want := range []bool{true, false} {
		ok, _, err = kv.CAS(&api.KVPair{Key: "rules/new", Value: []byte("n" + strconv.Itoa(i))}, nil)
		if err != nil || ok != want {
			t.Fatalf("CAS 0 on rules/new, attempt %d: ok=%v err=%v, want %v", i+1, ok, err, want)
		}
	}
	if p, _, err := kv.Get("rules/new", nil); err != nil || string(p.Value) != "n0" {
		t.Fatalf("rules/new holds %+v %v, want n0 (the refused create must not write)", p, err)
	}

	// The wire form of a refusal, as the datasource will see it.
	resp, body := rawRequest(t, http.MethodPut, "http://"+s.Addr+"/v1/kv/rules/new?cas=0", "", "x")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "false" {
		t.Fatalf("raw refused CAS: %d %q, want 200 \"false\"", resp.StatusCode, body)
	}
}

func TestConsulBlockingQueryReturnsOnChange(t *testing.T) {
	s := Consul(t)
	kv := s.Client(t).KV()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A missing key answers nil with an index to block on.
	p, meta, err := kv.Get("rules/watched", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil || p != nil || meta.LastIndex == 0 {
		t.Fatalf("get missing key: %v meta=%+v err=%v, want nil with a non-zero index", p, meta, err)
	}
	idx := meta.LastIndex

	type result struct {
		p   *api.KVPair
		idx uint64
		err error
	}
	got := make(chan result, 1)
	go func() {
		// WaitTime far beyond the test's deadline: only a change (or a
		// spurious wake-up, which loops) can end this in time.
		at := idx
		for {
			p, meta, err := kv.Get("rules/watched", (&api.QueryOptions{WaitIndex: at, WaitTime: 5 * time.Minute}).WithContext(ctx))
			if err != nil || p != nil {
				var last uint64
				if meta != nil {
					last = meta.LastIndex
				}
				got <- result{p, last, err}
				return
			}
			at = meta.LastIndex
		}
	}()
	// Give the query time to reach the server and block; a put before that
	// is no failure either (the index has moved, so the query returns at once).
	time.Sleep(200 * time.Millisecond)
	if _, err := kv.Put(&api.KVPair{Key: "rules/watched", Value: []byte("changed")}, nil); err != nil {
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
	kv := s.Client(t).KV()
	if _, err := kv.Put(&api.KVPair{Key: "rules/kept", Value: []byte("kept")}, nil); err != nil {
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
		if _, _, err := kv.Get("rules/kept", nil); err == nil {
			t.Fatalf("round %d: get succeeded on a server after %s", round, how)
		}
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		if s.Addr != addr {
			t.Fatalf("restart moved the server from %s to %s", addr, s.Addr)
		}
		// A default (not consistent) read, as most clients make.
		if p, _, err := kv.Get("rules/kept", nil); err != nil || p == nil || string(p.Value) != "kept" {
			t.Fatalf("round %d, after %s and restart: %+v %v, want kept", round, how, p, err)
		}
	}
}

// Dev mode holds data in memory: a restart comes back empty on the same port.
func TestConsulDevRestartComesBackEmpty(t *testing.T) {
	s := Consul(t)
	kv := s.Client(t).KV()
	if _, err := kv.Put(&api.KVPair{Key: "rules/gone", Value: []byte("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if p, _, err := kv.Get("rules/gone", nil); err != nil || p != nil {
		t.Fatalf("after a dev-mode restart: %+v %v, want no key", p, err)
	}
}

func TestConsulPauseResume(t *testing.T) {
	s := Consul(t)
	cfg := s.Config()
	cfg.HttpClient = &http.Client{Transport: cfg.Transport, Timeout: 300 * time.Millisecond}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.KV().Get("k", nil); err == nil {
		t.Fatal("get answered by a paused server")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	// Without the short timeout: a loaded machine may take longer than 300 ms
	// to schedule the continued agent.
	if _, _, err := s.Client(t).KV().Get("k", nil); err != nil {
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
			// The anonymous client below must not pick a token up from the environment.
			t.Setenv("CONSUL_HTTP_TOKEN", "")
			t.Setenv("CONSUL_HTTP_TOKEN_FILE", "")
			s := Consul(t, opts...)
			if s.Token == "" {
				t.Fatal("WithACL exposed no management token")
			}
			rw := s.PrefixToken(t, "rules/", KeyWrite)
			ro := s.PrefixToken(t, "rules/", KeyRead)
			checkACL(t, s, rw, ro)

			// The management token and both grants survive a kill: a
			// persistent server keeps them, a dev one is given them back.
			if err := s.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := s.Restart(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Client(t).ACL().TokenReadSelf(nil); err != nil {
				t.Fatalf("management token after restart: %v", err)
			}
			checkACL(t, s, rw, ro)
		})
	}
}

// checkACL: rw reads and writes under rules/ only, ro only reads there, and
// no token may do anything.
func checkACL(t *testing.T, s *ConsulServer, rw, ro string) {
	t.Helper()
	rwKV, roKV, anonKV := s.TokenClient(t, rw).KV(), s.TokenClient(t, ro).KV(), s.TokenClient(t, "").KV()

	if _, err := rwKV.Put(&api.KVPair{Key: "rules/a", Value: []byte("1")}, nil); err != nil {
		t.Fatalf("read-write token, put rules/a: %v", err)
	}
	p, _, err := rwKV.Get("rules/a", nil)
	if err != nil || p == nil || string(p.Value) != "1" {
		t.Fatalf("read-write token, get rules/a: %+v %v", p, err)
	}
	if ok, _, err := rwKV.CAS(&api.KVPair{Key: "rules/a", Value: []byte("2"), ModifyIndex: p.ModifyIndex}, nil); err != nil || !ok {
		t.Fatalf("read-write token, CAS rules/a: %v %v", ok, err)
	}
	if p, _, err := roKV.Get("rules/a", nil); err != nil || p == nil || string(p.Value) != "2" {
		t.Fatalf("read-only token, get rules/a: %+v %v", p, err)
	}

	denied := []struct {
		what string
		err  error
	}{
		{"read-write token, put outside its prefix", firstErr(rwKV.Put(&api.KVPair{Key: "other/a", Value: []byte("x")}, nil))},
		{"read-only token, put", firstErr(roKV.Put(&api.KVPair{Key: "rules/a", Value: []byte("x")}, nil))},
		{"read-only token, CAS", thirdErr(roKV.CAS(&api.KVPair{Key: "rules/a", Value: []byte("x"), ModifyIndex: 1}, nil))},
		{"no token, get", thirdErr(anonKV.Get("rules/a", nil))},
		{"no token, put", firstErr(anonKV.Put(&api.KVPair{Key: "rules/a", Value: []byte("x")}, nil))},
	}
	for _, d := range denied {
		var se api.StatusError
		if !errors.As(d.err, &se) || se.Code != http.StatusForbidden || !strings.Contains(se.Body, "Permission denied") {
			t.Errorf("%s: %v, want a 403 Permission denied", d.what, d.err)
			continue
		}
		t.Logf("%s: %v", d.what, d.err)
	}
	if p, _, err := rwKV.Get("rules/a", nil); err != nil || string(p.Value) != "2" {
		t.Fatalf("after the denied writes rules/a holds %+v %v, want 2", p, err)
	}
}

func firstErr[A any](_ A, err error) error         { return err }
func thirdErr[A, B any](_ A, _ B, err error) error { return err }

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

// rawRequest sends one HTTP request with an optional token and returns the
// response and its body.
func rawRequest(t *testing.T, method, url, token, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp, b.String()
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
