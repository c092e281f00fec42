package nacos_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/nacos"
	"github.com/rulesync/rulesync/sources/nacos/nacostest"
)

const group = "SENTINEL_GROUP"

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func dial(t testing.TB, cfg nacos.Config, dataID string, opts ...nacos.Option) *nacos.Source {
	t.Helper()
	s, err := nacos.Dial(context.Background(), cfg, group, dataID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readUntil reads until the source holds want: Nacos refreshes the cache it
// serves reads from asynchronously after a write.
func readUntil(t testing.TB, s datasource.Source, want string) datasource.Snapshot {
	t.Helper()
	ctx := ctxT(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		snap, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(snap.Data) == want || time.Now().After(deadline) {
			if string(snap.Data) != want {
				t.Fatalf("read %q, want %q", snap.Data, want)
			}
			return snap
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestReadWriteCompareAndSet(t *testing.T) {
	srv := nacostest.NewServer(t)
	s := dial(t, srv.Config(), "app-flow-rules")
	ctx := ctxT(t)
	if snap, err := s.Read(ctx); err != nil || snap.Exists || snap.Revision != "" {
		t.Fatalf("missing config reads %+v, %v", snap, err)
	}
	// Create only: the config must not exist.
	w, err := s.Write(ctx, []byte(`[{"resource":"a","count":1}]`), "")
	if err != nil {
		t.Fatal(err)
	}
	if w.Revision != nacos.Revision(w.Data) || len(w.Revision) != 32 {
		t.Fatalf("write revision %q", w.Revision)
	}
	got := readUntil(t, s, `[{"resource":"a","count":1}]`)
	if got.Revision != w.Revision || !got.Exists {
		t.Fatalf("read %+v after writing revision %s", got, w.Revision)
	}
	// The server compares: a stale md5 and a second create are conflicts,
	// and change nothing.
	if _, err := s.Write(ctx, []byte(`[{"resource":"b","count":1}]`), ""); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("create over an existing config: %v, want ErrConflict", err)
	}
	_, err = s.Write(ctx, []byte(`[{"resource":"b","count":1}]`), nacos.Revision([]byte("something else")))
	if !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("stale md5: %v, want ErrConflict", err)
	}
	t.Logf("stale write: %v", err)
	time.Sleep(500 * time.Millisecond)
	readUntil(t, s, `[{"resource":"a","count":1}]`)
	// The current md5 writes.
	w2, err := s.Write(ctx, []byte(`[{"resource":"c","count":1}]`), got.Revision)
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, s, `[{"resource":"c","count":1}]`)
	// Clearing publishes the empty list; AnyRevision skips the check.
	if w, err := s.Write(ctx, nil, w2.Revision); err != nil || string(w.Data) != "[]" {
		t.Fatalf("clear: %+v, %v", w, err)
	}
	readUntil(t, s, "[]")
	if _, err := s.Write(ctx, []byte(`[{"resource":"d","count":1}]`), datasource.AnyRevision); err != nil {
		t.Fatal(err)
	}
	readUntil(t, s, `[{"resource":"d","count":1}]`)
	if _, err := s.Write(ctx, []byte{0xff, '[', ']'}, datasource.AnyRevision); !errors.Is(err, datasource.ErrInvalid) {
		t.Fatalf("invalid UTF-8: %v, want ErrInvalid", err)
	}
}

// The SDK returns a refused compare-and-set as the server's message only:
// the source must recognise the text this server really sends.
func TestCompareAndSetFailureText(t *testing.T) {
	srv := nacostest.NewServer(t)
	c := nacostest.Client(t, srv.Config())
	p := vo.ConfigParam{DataId: "cas-text", Group: group, Content: "[]"}
	if ok, err := c.PublishConfig(p); !ok || err != nil {
		t.Fatalf("publish: %v %v", ok, err)
	}
	p.Content, p.CasMd5 = `[{"resource":"x"}]`, nacos.Revision([]byte("not the content"))
	ok, err := c.PublishConfig(p)
	if ok || err == nil {
		t.Fatalf("stale CasMd5: %v %v, want a refusal", ok, err)
	}
	t.Logf("server's text: %q", err.Error())
	if !nacos.CasFailed(err.Error()) {
		t.Fatalf("%q is not recognised as a compare-and-set failure", err)
	}
	// The same client serves a Source of the caller's (New): it reads and
	// its compare-and-set fails the same way.
	s, err := nacos.New(c, group, "cas-text")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cur := readUntil(t, s, "[]")
	if _, err := s.Write(ctxT(t), []byte("[1]"), nacos.Revision([]byte("stale"))); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("stale write through New: %v", err)
	}
	if _, err := s.Write(ctxT(t), []byte(`[{"resource":"y"}]`), cur.Revision); err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"user not found!", "publish config error", "data is conflict, please try again"} {
		if nacos.CasFailed(other) {
			t.Fatalf("%q taken for a compare-and-set failure", other)
		}
	}
}

// Ten writers increment a counter with read, compare-and-set and retry. The
// counter exists at the start: concurrent creates are TestConcurrentCreates'
// business. Reads after a write are eventual here, so the end is polled for:
// a lost increment never gets there, and one too many is seen at once.
func TestConcurrentCompareAndSet(t *testing.T) {
	srv := nacostest.NewServer(t)
	s := dial(t, srv.Config(), "counter")
	ctx := ctxT(t)
	if _, err := s.Write(ctx, []byte("0"), ""); err != nil {
		t.Fatal(err)
	}
	readUntil(t, s, "0")
	const writers = 10
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	for range writers {
		wg.Go(func() {
			for {
				cur, err := s.Read(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				n, _ := strconv.Atoi(string(cur.Data))
				_, err = s.Write(ctx, []byte(strconv.Itoa(n+1)), cur.Revision)
				if errors.Is(err, datasource.ErrConflict) {
					conflicts.Add(1)
					continue
				}
				if err != nil {
					t.Error(err)
				}
				return
			}
		})
	}
	wg.Wait()
	t.Logf("%d conflicts retried", conflicts.Load())
	readUntil(t, s, strconv.Itoa(writers))
}

// Writers that create the same absent config at once: exactly one succeeds
// and the server holds its content; the others get ErrConflict. (Nacos's
// embedded storage tells every one of them it succeeded; the source reads
// the create back.)
func TestConcurrentCreates(t *testing.T) {
	srv := nacostest.NewServer(t)
	const writers = 6
	var sources []*nacos.Source
	for range writers {
		sources = append(sources, dial(t, srv.Config(), "created"))
	}
	ctx := ctxT(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	start := make(chan struct{})
	for i, s := range sources {
		wg.Go(func() {
			content := fmt.Sprintf(`[{"resource":"creator-%d"}]`, i)
			<-start
			_, err := s.Write(ctx, []byte(content), "")
			switch {
			case err == nil:
				mu.Lock()
				won = append(won, content)
				mu.Unlock()
			case !errors.Is(err, datasource.ErrConflict):
				t.Errorf("creator %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d creates succeeded (%v), want exactly one", len(won), won)
	}
	readUntil(t, sources[0], won[0])
}

// Watch sees changes made by others (the HTTP open API, as an operator's
// script), a deletion and a re-creation, against Nacos and Polaris.
func TestWatch(t *testing.T) {
	for name, start := range map[string]func(t *testing.T) (nacos.Config, func(content string) error, func() error){
		"nacos": func(t *testing.T) (nacos.Config, func(string) error, func() error) {
			srv := nacostest.NewServer(t)
			c := harness.NacosConfig{Group: group, DataID: "watched"}
			return srv.Config(), func(v string) error { return srv.PutConfig(ctxT(t), c, v) }, func() error { return srv.DeleteConfig(ctxT(t), c) }
		},
		"polaris": func(t *testing.T) (nacos.Config, func(string) error, func() error) {
			srv := nacostest.NewPolaris(t)
			c := harness.NacosConfig{Group: group, DataID: "watched"}
			return srv.Config(), func(v string) error { return srv.PutConfig(ctxT(t), c, v) }, func() error { return srv.DeleteConfig(ctxT(t), c) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, put, del := start(t)
			s := dial(t, cfg, "watched")
			from, err := s.Read(ctxT(t))
			if err != nil || from.Exists {
				t.Fatalf("start: %+v %v", from, err)
			}
			w := sourcetest.Watch(t, s, from)
			w.None(t, 500*time.Millisecond)
			for i := range 3 {
				v := fmt.Sprintf(`[{"resource":"r%d","count":1}]`, i)
				if err := put(v); err != nil {
					t.Fatal(err)
				}
				next(t, w, v)
			}
			if err := del(); err != nil {
				t.Fatal(err)
			}
			if snap := w.Next(t); snap.Exists {
				t.Fatalf("after delete: %+v", snap)
			}
			if err := put("[]"); err != nil {
				t.Fatal(err)
			}
			next(t, w, "[]")
			w.Running(t)
		})
	}
}

// next waits for the watch to emit want, skipping what a notification close
// to a read may repeat.
func next(t *testing.T, w *sourcetest.Watcher, want string) {
	t.Helper()
	for {
		snap := w.Next(t)
		if string(snap.Data) == want {
			if snap.Revision != nacos.Revision([]byte(want)) {
				t.Fatalf("revision %s for %q", snap.Revision, want)
			}
			return
		}
		t.Logf("watch emitted %q on the way to %q", snap.Data, want)
	}
}

// A wrong password is an error naming the server, wrapping ErrAuth, without
// the password; the SDK's own log lines never show it either (see also
// TestSDKLogOutage).
func TestAuth(t *testing.T) {
	const pw = "s3cret-nacos-pw"
	srv := nacostest.NewServer(t, harness.WithUser("rules"), harness.WithPassword(pw))
	logs := captureSDK(t)
	cfg := srv.Config()
	ok := dial(t, cfg, "auth-flow-rules")
	ctx := ctxT(t)
	if _, err := ok.Write(ctx, []byte("[]"), ""); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ok, "[]")

	cfg.Password = "wrong-" + pw
	bad := dial(t, cfg, "auth-flow-rules")
	_, err := bad.Read(ctx)
	if err == nil || !errors.Is(err, nacos.ErrAuth) || !strings.Contains(err.Error(), srv.Addr) || strings.Contains(err.Error(), pw) {
		t.Fatalf("wrong password: %v; want ErrAuth naming %s, without the password", err, srv.Addr)
	}
	t.Logf("wrong password: %v", err)
	if _, err := bad.Write(ctx, []byte("[1]"), datasource.AnyRevision); !errors.Is(err, nacos.ErrAuth) || strings.Contains(err.Error(), pw) {
		t.Fatalf("write with a wrong password: %v", err)
	}
	if strings.Contains(cfg.String(), pw) {
		t.Fatalf("Config.String shows the password: %s", cfg)
	}
	out := logs.String()
	if strings.Contains(out, pw) || !strings.Contains(out, "nacos-sdk") {
		t.Fatalf("SDK log (%d bytes) shows the password, or nothing came", len(out))
	}
	t.Logf("SDK log lines captured: %d, redactions: %d", strings.Count(out, "\n"), strings.Count(out, "REDACTED"))
}
