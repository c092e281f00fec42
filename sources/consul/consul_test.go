package consul_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/consul"
	"github.com/rulesync/rulesync/sources/consul/consultest"
)

func newSource(t *testing.T, srv *harness.ConsulServer, key string, opts ...consul.Option) (*consul.Source, *api.KV) {
	t.Helper()
	c := consultest.Client(t, srv)
	s, err := consul.New(c, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c.KV()
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, kv *api.KV, key, value string) uint64 {
	t.Helper()
	if _, err := kv.Put(&api.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	p, _, err := kv.Get(key, &api.QueryOptions{RequireConsistent: true})
	if err != nil || p == nil {
		t.Fatalf("get %s after put: %+v %v", key, p, err)
	}
	return p.ModifyIndex
}

func TestNewRejectsBadArguments(t *testing.T) {
	if _, err := consul.New(nil, "k"); err == nil || !strings.Contains(err.Error(), "nil client") {
		t.Fatalf("nil client: %v", err)
	}
	c, err := api.NewClient(&api.Config{Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "/", "///"} {
		if _, err := consul.New(c, key); err == nil || !strings.Contains(err.Error(), "empty key") {
			t.Fatalf("key %q: %v, want empty key", key, err)
		}
	}
	s, err := consul.New(c, "//sentinel/app-flow-rules")
	if err != nil || s.Key() != "sentinel/app-flow-rules" {
		t.Fatalf("key normalised to %q (%v)", s.Key(), err)
	}
	if _, err := consul.Dial(context.Background(), consul.Config{Token: "a", TokenFile: "b"}, "k"); err == nil {
		t.Fatal("token and token file together accepted")
	}
	if _, err := consul.Dial(context.Background(), consul.Config{Scheme: "ftp"}, "k"); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Fatalf("scheme ftp: %v", err)
	}
	if _, err := consul.Dial(context.Background(), consul.Config{TokenFile: "/nonexistent/token"}, "k"); err == nil || !strings.Contains(err.Error(), "token-file") {
		t.Fatalf("missing token file: %v", err)
	}
}

func TestConfigRedactsToken(t *testing.T) {
	cfg := consul.Config{Address: "consul:8500", Token: "c0ffee-secret-token"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("dial", "cfg", cfg)
	for _, s := range []string{cfg.String(), buf.String()} {
		if strings.Contains(s, cfg.Token) || !strings.Contains(s, "consul:8500") || !strings.Contains(s, "REDACTED") {
			t.Fatalf("description %s", s)
		}
	}
}

func TestReadWriteCompareAndSet(t *testing.T) {
	srv := harness.Consul(t)
	// A leading slash is accepted and dropped for every call.
	s, kv := newSource(t, srv, "/rules/cas")
	ctx := ctxT(t)

	snap, err := s.Read(ctx)
	if err != nil || snap.Exists || snap.Revision != "" {
		t.Fatalf("missing key: %+v %v, want Exists=false Revision=\"\"", snap, err)
	}
	w1, err := s.Write(ctx, []byte("one"), "")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := s.Write(ctx, []byte("again"), ""); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("create over an existing key: %v, want ErrConflict", err)
	}
	// The revision is the key's own ModifyIndex, so other Consul clients agree.
	p, _, err := kv.Get("rules/cas", nil)
	if err != nil || p == nil || string(p.Value) != "one" || strconv.FormatUint(p.ModifyIndex, 10) != w1.Revision {
		t.Fatalf("stored %+v (%v), want one at ModifyIndex %s", p, err, w1.Revision)
	}
	w2, err := s.Write(ctx, []byte("two"), w1.Revision)
	if err != nil {
		t.Fatalf("write at the current index: %v", err)
	}
	for _, stale := range []string{w1.Revision, "0", "007", "-1", "abc", "99999999"} {
		if _, err := s.Write(ctx, []byte("lost"), stale); !errors.Is(err, datasource.ErrConflict) {
			t.Fatalf("write with expect %q: %v, want ErrConflict", stale, err)
		}
	}
	if got, _ := s.Read(ctx); string(got.Data) != "two" || got.Revision != w2.Revision {
		t.Fatalf("after refused writes: %q@%s, want two@%s", got.Data, got.Revision, w2.Revision)
	}
	w3, err := s.Write(ctx, []byte("three"), datasource.AnyRevision)
	if err != nil {
		t.Fatalf("unconditional write: %v", err)
	}
	if got, _ := s.Read(ctx); string(got.Data) != "three" || got.Revision != w3.Revision {
		t.Fatalf("after the AnyRevision write: %q@%s, want three@%s", got.Data, got.Revision, w3.Revision)
	}

	if err := s.Delete(ctx, w2.Revision); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("delete at a stale index: %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, ""); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("delete expecting no key while one exists: %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, w3.Revision); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got, _ := s.Read(ctx); got.Exists {
		t.Fatalf("key still there after delete: %+v", got)
	}
	if err := s.Delete(ctx, w3.Revision); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("delete-cas of a missing key: %v, want ErrConflict", err)
	}
	for _, expect := range []string{datasource.AnyRevision, ""} {
		if err := s.Delete(ctx, expect); err != nil {
			t.Fatalf("delete of a missing key with expect %q: %v", expect, err)
		}
	}
	// An empty value exists and is empty.
	if _, err := s.Write(ctx, nil, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Read(ctx); !got.Exists || len(got.Data) != 0 {
		t.Fatalf("empty value read as %+v", got)
	}
}

func TestConcurrentCASLosesNothing(t *testing.T) {
	srv := harness.Consul(t)
	s, _ := newSource(t, srv, "rules/counter")
	sourcetest.ConcurrentCAS(t, ctxT(t), s, 20)
}

func TestTooLargePayload(t *testing.T) {
	srv := harness.Consul(t)
	s, _ := newSource(t, srv, "rules/big")
	_, err := s.Write(ctxT(t), bytes.Repeat([]byte("x"), 450<<10), datasource.AnyRevision)
	if !errors.Is(err, datasource.ErrTooLarge) {
		t.Fatalf("450 KiB write: %v, want ErrTooLarge", err)
	}
	t.Log(err)
}

func TestWatchCreateUpdateDelete(t *testing.T) {
	srv := harness.Consul(t)
	s, kv := newSource(t, srv, "rules/watch")
	ctx := ctxT(t)
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	// Missing at the start: nothing to emit until it appears, while other
	// keys change.
	for i := range 5 {
		put(t, kv, "rules/other", strconv.Itoa(i))
	}
	w.None(t, 300*time.Millisecond)
	rev := put(t, kv, "rules/watch", "a")
	if got := w.Next(t); string(got.Data) != "a" || got.Revision != strconv.FormatUint(rev, 10) {
		t.Fatalf("create emitted %q@%s, want a@%d", got.Data, got.Revision, rev)
	}
	put(t, kv, "rules/other", "x")
	put(t, kv, "rules/watch", "b")
	if got := w.Next(t); string(got.Data) != "b" {
		t.Fatalf("update emitted %+v, want b", got)
	}
	if cur, err := s.Read(ctx); err != nil || cur.Revision == "" {
		t.Fatalf("read: %+v %v", cur, err)
	}
	if _, err := kv.Delete("rules/watch", nil); err != nil {
		t.Fatal(err)
	}
	if got := w.Next(t); got.Exists || got.Revision != "" || got.Data != nil {
		t.Fatalf("delete emitted %+v, want the zero Snapshot", got)
	}
	put(t, kv, "rules/watch", "back")
	if got := w.Next(t); string(got.Data) != "back" {
		t.Fatalf("re-create emitted %+v", got)
	}
	w.None(t, 200*time.Millisecond)
}

// Watch from the state the caller holds emits nothing until the key changes;
// from a state it does not hold it emits the current value first.
func TestWatchFromCallerState(t *testing.T) {
	srv := harness.Consul(t)
	s, kv := newSource(t, srv, "rules/from")
	ctx := ctxT(t)
	cur, err := s.Write(ctx, []byte("here"), "")
	if err != nil {
		t.Fatal(err)
	}
	w := sourcetest.Watch(t, s, datasource.Snapshot{Data: []byte("elsewhere"), Revision: "999999", Exists: true})
	if got := w.Next(t); string(got.Data) != "here" || got.Revision != cur.Revision {
		t.Fatalf("emitted %q@%s, want here@%s", got.Data, got.Revision, cur.Revision)
	}
	w.Stop()
	w = sourcetest.Watch(t, s, cur)
	w.None(t, 300*time.Millisecond)
	put(t, kv, "rules/from", "next")
	if got := w.Next(t); string(got.Data) != "next" {
		t.Fatalf("emitted %+v, want next", got)
	}
	// The same bytes written again change nothing in Consul (the
	// ModifyIndex stays), so nothing is emitted.
	before, _ := s.Read(ctx)
	if rev := put(t, kv, "rules/from", "next"); strconv.FormatUint(rev, 10) != before.Revision {
		t.Fatalf("an identical write moved the ModifyIndex from %s to %d", before.Revision, rev)
	}
	w.None(t, 300*time.Millisecond)
}

// countingTransport counts the blocking queries of one key that pass it.
type countingTransport struct {
	base http.RoundTripper
	key  string
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v1/kv/"+c.key && r.URL.Query().Get("index") != "" {
		c.n.Add(1)
	}
	return c.base.RoundTrip(r)
}

// A blocking query that returns without a change (here: a wait of 10 ms
// that keeps running out) must not make the loop query faster than
// WithMinQueryInterval.
func TestWatchRateLimitsReturnsWithoutChange(t *testing.T) {
	srv := harness.Consul(t)
	cfg := consultest.Config(srv)
	ct := &countingTransport{base: cfg.Transport, key: "rules/limited"}
	cfg.HttpClient = &http.Client{Transport: ct}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const gap = 200 * time.Millisecond
	s, err := consul.New(c, "rules/limited", consul.WithWaitTime(10*time.Millisecond), consul.WithMinQueryInterval(gap))
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	w.None(t, 1500*time.Millisecond)
	queries, elapsed := ct.n.Load(), time.Since(began)
	// One query may be in flight at the end.
	if limit := int64(elapsed/gap) + 2; queries > limit {
		t.Fatalf("%d blocking queries in %v, want at most %d (one per %v)", queries, elapsed, limit, gap)
	}
	if queries < 2 {
		t.Fatalf("only %d blocking queries in %v: the loop did not go on", queries, elapsed)
	}
	t.Logf("%d blocking queries of 10 ms in %v", queries, elapsed)
	// A change still comes through.
	put(t, consultest.Client(t, srv).KV(), "rules/limited", "v")
	if got := w.Next(t); string(got.Data) != "v" {
		t.Fatalf("emitted %+v", got)
	}
}

// switchProxy forwards every request to the current one of two real Consul
// agents, like a load balancer in front of servers that were replaced.
type switchProxy struct {
	mu      sync.Mutex
	current *httputil.ReverseProxy
}

func (p *switchProxy) to(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
}

func (p *switchProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	h := p.current
	p.mu.Unlock()
	h.ServeHTTP(w, r)
}

// When the agent behind an address is replaced by one with an older state
// (a restored snapshot, a rebuilt cluster), the index goes backwards: Watch
// ends, and the datasource's fresh read applies the new store's value even
// though its ModifyIndex is lower than the one it held.
func TestIndexGoingBackwardsEndsWatch(t *testing.T) {
	old, fresh := harness.Consul(t), harness.Consul(t)
	oldKV, freshKV := consultest.Client(t, old).KV(), consultest.Client(t, fresh).KV()
	for i := range 20 {
		put(t, oldKV, "rules/moved", "old-"+strconv.Itoa(i))
	}
	freshRev := put(t, freshKV, "rules/moved", "fresh")
	proxy := &switchProxy{}
	proxy.to(old.Addr)
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	c, err := api.NewClient(&api.Config{Address: strings.TrimPrefix(front.URL, "http://"), Transport: http.DefaultTransport.(*http.Transport).Clone()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := consul.New(c, "rules/moved", consul.WithWaitTime(300*time.Millisecond), consul.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	from, err := s.Read(ctxT(t))
	if err != nil || string(from.Data) != "old-19" {
		t.Fatalf("read through the proxy: %+v %v", from, err)
	}
	t.Logf("old store: %q@%s; fresh store: fresh@%d", from.Data, from.Revision, freshRev)
	w := sourcetest.Watch(t, s, from)
	w.None(t, 500*time.Millisecond) // blocking on the old store's index
	proxy.to(fresh.Addr)
	werr := w.End(t)
	if werr == nil || !strings.Contains(werr.Error(), "index went backwards") {
		t.Fatalf("Watch ended with %v, want the index going backwards", werr)
	}
	// What the sync loop does next: read afresh, watch from there.
	cur, err := s.Read(ctxT(t))
	if err != nil || string(cur.Data) != "fresh" || cur.Revision != strconv.FormatUint(freshRev, 10) {
		t.Fatalf("read after the switch: %+v %v", cur, err)
	}
	t.Log(werr)
}

func TestWatchEndsWhenServerDies(t *testing.T) {
	srv := harness.Consul(t)
	s, _ := newSource(t, srv, "rules/dies")
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	w.None(t, 200*time.Millisecond)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := w.End(t); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Watch ended with %v, want the failed query", err)
	}
}

// A frozen server (SIGSTOP: the connection stays open, nothing answers) is
// given up once the blocking query's own deadline passes.
func TestWatchGivesUpOnFrozenServer(t *testing.T) {
	srv := harness.Consul(t)
	s, _ := newSource(t, srv, "rules/frozen", consul.WithWaitTime(300*time.Millisecond), consul.WithRequestTimeout(300*time.Millisecond))
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	w.None(t, time.Second) // several quiet queries come and go
	w.Running(t)
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Resume() })
	if err := w.End(t); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Watch ended with %v, want its deadline", err)
	}
}

func TestWatchEndsWithContextAndClose(t *testing.T) {
	srv := harness.Consul(t)
	s, _ := newSource(t, srv, "rules/ctx")
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	w.None(t, 100*time.Millisecond)
	w.Stop()
	if err := w.End(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v, want context.Canceled", err)
	}
	w = sourcetest.Watch(t, s, datasource.Snapshot{})
	w.None(t, 100*time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.End(t); !errors.Is(err, datasource.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	ctx := ctxT(t)
	if _, err := s.Read(ctx); !errors.Is(err, datasource.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := s.Write(ctx, []byte("x"), datasource.AnyRevision); !errors.Is(err, datasource.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
