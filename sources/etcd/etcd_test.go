package etcd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/etcd"
	"github.com/rulesync/rulesync/sources/etcd/etcdtest"
)

const waitFor = 10 * time.Second

func newSource(t *testing.T, srv *harness.EtcdServer, key string) (*etcd.Source, *clientv3.Client) {
	t.Helper()
	c := etcdtest.Client(t, srv)
	s, err := etcd.New(c, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewRejectsBadArguments(t *testing.T) {
	if _, err := etcd.New(nil, "k"); err == nil || !strings.Contains(err.Error(), "nil client") {
		t.Fatalf("nil client: err=%v", err)
	}
	if _, err := etcd.Dial(context.Background(), etcd.Config{}, "k"); err == nil || !strings.Contains(err.Error(), "endpoints") {
		t.Fatalf("no endpoints: err=%v", err)
	}
	if _, err := etcd.Dial(context.Background(), etcd.Config{Endpoints: []string{"http://127.0.0.1:1"}, Password: "x"}, "k"); err == nil || !strings.Contains(err.Error(), "username") {
		t.Fatalf("password without user: err=%v", err)
	}
	if _, err := etcd.Dial(context.Background(), etcd.Config{Endpoints: []string{"http://127.0.0.1:1"}}, ""); err == nil || !strings.Contains(err.Error(), "empty key") {
		t.Fatalf("empty key: err=%v", err)
	}
}

func TestConfigRedactsPassword(t *testing.T) {
	cfg := etcd.Config{Endpoints: []string{"http://e:2379"}, Username: "u", Password: "hunter2"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("dial", "cfg", cfg)
	for _, s := range []string{cfg.String(), fmt.Sprint(cfg), buf.String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password leaked: %s", s)
		}
		if !strings.Contains(s, "http://e:2379") {
			t.Fatalf("endpoint missing from %s", s)
		}
	}
}

func TestReadWriteCompareAndSet(t *testing.T) {
	srv := harness.Etcd(t)
	s, c := newSource(t, srv, "/rules/cas")
	ctx := ctxT(t)

	snap, err := s.Read(ctx)
	if err != nil || snap.Exists || snap.Revision != "" {
		t.Fatalf("missing key: %+v err=%v, want Exists=false Revision=\"\"", snap, err)
	}
	w1, err := s.Write(ctx, []byte("one"), "")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := s.Write(ctx, []byte("again"), ""); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("create over existing key: err=%v, want ErrConflict", err)
	}
	got, err := s.Read(ctx)
	if err != nil || string(got.Data) != "one" || got.Revision != w1.Revision || !got.Exists {
		t.Fatalf("read after create: %+v err=%v, want one@%s", got, err, w1.Revision)
	}
	// The revision is etcd's own mod revision, so other etcd clients agree with it.
	raw, err := c.Get(ctx, "/rules/cas")
	if err != nil || strconv.FormatInt(raw.Kvs[0].ModRevision, 10) != w1.Revision {
		t.Fatalf("revision %s is not the key's mod revision (%v, %v)", w1.Revision, raw, err)
	}

	w2, err := s.Write(ctx, []byte("two"), w1.Revision)
	if err != nil {
		t.Fatalf("write at current revision: %v", err)
	}
	for _, stale := range []string{w1.Revision, "not-a-revision", "0"} {
		if _, err := s.Write(ctx, []byte("lost"), stale); !errors.Is(err, datasource.ErrConflict) {
			t.Fatalf("write with stale expect %q: err=%v, want ErrConflict", stale, err)
		}
	}
	if _, err := s.Write(ctx, []byte("three"), datasource.AnyRevision); err != nil {
		t.Fatalf("unconditional write: %v", err)
	}
	if got, _ := s.Read(ctx); string(got.Data) != "three" {
		t.Fatalf("after AnyRevision write: %q", got.Data)
	}

	cur, _ := s.Read(ctx)
	if err := s.Delete(ctx, w2.Revision); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("delete with stale revision: err=%v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, cur.Revision); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got, _ := s.Read(ctx); got.Exists {
		t.Fatalf("key still exists after delete: %+v", got)
	}
	if err := s.Delete(ctx, datasource.AnyRevision); err != nil {
		t.Fatalf("delete of a missing key with AnyRevision: %v", err)
	}
}

// Concurrent read-modify-write through compare-and-set loses no update.
func TestConcurrentCASLosesNothing(t *testing.T) {
	srv := harness.Etcd(t)
	s, _ := newSource(t, srv, "/rules/counter")
	ctx := ctxT(t)
	sourcetest.ConcurrentCAS(t, ctx, s, 20)
}

func TestWatchCreateUpdateDelete(t *testing.T) {
	srv := harness.Etcd(t)
	s, c := newSource(t, srv, "/rules/watch")
	ctx := ctxT(t)
	from, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Created between Read and Watch: must still be seen.
	if _, err := c.Put(ctx, "/rules/watch", "a"); err != nil {
		t.Fatal(err)
	}
	w := sourcetest.Watch(t, s, from)
	if got := w.Next(t); !got.Exists || string(got.Data) != "a" {
		t.Fatalf("first emit %+v, want a", got)
	}
	if _, err := c.Put(ctx, "/rules/other", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "/rules/watch", "b"); err != nil {
		t.Fatal(err)
	}
	got := w.Next(t)
	if string(got.Data) != "b" {
		t.Fatalf("update emit %+v, want b", got)
	}
	if cur, _ := s.Read(ctx); cur.Revision != got.Revision {
		t.Fatalf("emitted revision %s, stored %s", got.Revision, cur.Revision)
	}
	if _, err := c.Delete(ctx, "/rules/watch"); err != nil {
		t.Fatal(err)
	}
	if got := w.Next(t); got.Exists || got.Revision != "" || got.Data != nil {
		t.Fatalf("delete emit %+v, want zero Snapshot", got)
	}
	w.None(t, 200*time.Millisecond) // the unrelated key emitted nothing
}

func TestWatchResumesFromRevision(t *testing.T) {
	srv := harness.Etcd(t)
	s, _ := newSource(t, srv, "/rules/resume")
	ctx := ctxT(t)
	first, err := s.Write(ctx, []byte("v1"), "")
	if err != nil {
		t.Fatal(err)
	}
	// Changes made while nobody watched are replayed in order.
	for _, v := range []string{"v2", "v3"} {
		if _, err := s.Write(ctx, []byte(v), datasource.AnyRevision); err != nil {
			t.Fatal(err)
		}
	}
	w := sourcetest.Watch(t, s, first)
	for _, want := range []string{"v2", "v3"} {
		if got := w.Next(t); string(got.Data) != want {
			t.Fatalf("replayed %q, want %q", got.Data, want)
		}
	}
	w.None(t, 200*time.Millisecond)
}

func TestWatchRecoversFromCompaction(t *testing.T) {
	srv := harness.Etcd(t)
	s, c := newSource(t, srv, "/rules/compact")
	ctx := ctxT(t)
	first, err := s.Write(ctx, []byte("v1"), "")
	if err != nil {
		t.Fatal(err)
	}
	var lastRev int64
	for i := 2; i <= 5; i++ {
		r, err := c.Put(ctx, "/rules/compact", "v"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		lastRev = r.Header.Revision
	}
	if _, err := c.Compact(ctx, lastRev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	w := sourcetest.Watch(t, s, first)
	// History after v1 is gone: the source re-reads and emits the current value.
	if got := w.Next(t); string(got.Data) != "v5" || got.Revision != strconv.FormatInt(lastRev, 10) {
		t.Fatalf("after compaction emitted %q@%s, want v5@%d", got.Data, got.Revision, lastRev)
	}
	// ...and keeps watching from there.
	if _, err := c.Put(ctx, "/rules/compact", "v6"); err != nil {
		t.Fatal(err)
	}
	if got := w.Next(t); string(got.Data) != "v6" {
		t.Fatalf("after recovery emitted %q, want v6", got.Data)
	}
}

func TestWatchEndsWithContext(t *testing.T) {
	srv := harness.Etcd(t)
	s, _ := newSource(t, srv, "/rules/ctx")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, datasource.Snapshot{}, func(datasource.Snapshot) {}) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch returned %v, want context.Canceled", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestClosedSource(t *testing.T) {
	srv := harness.Etcd(t)
	ctx := ctxT(t)
	s, err := etcd.Dial(ctx, etcd.Config{Endpoints: srv.Endpoints}, "/rules/closed")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx); !errors.Is(err, datasource.ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Write(ctx, []byte("x"), datasource.AnyRevision); !errors.Is(err, datasource.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestAuthCredentialsNeverLeak(t *testing.T) {
	const password = "Pa55-w0rd-never-logged"
	srv := harness.Etcd(t, harness.WithPassword(password))
	ctx := ctxT(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	good := etcd.Config{Endpoints: srv.Endpoints, Username: srv.User, Password: password}
	s, err := etcd.Dial(ctx, good, "/rules/auth", etcd.WithLogger(logger))
	if err != nil {
		t.Fatalf("dial with the right password: %v", err)
	}
	defer s.Close()
	if _, err := s.Write(ctx, []byte("[]"), ""); err != nil {
		t.Fatalf("write with auth: %v", err)
	}
	logger.Info("config", "etcd", good)

	var errs []error
	bad := good
	bad.Password = password + "-wrong"
	if _, err := etcd.Dial(ctx, bad, "/rules/auth", etcd.WithLogger(logger)); err == nil {
		t.Fatal("dial with a wrong password succeeded")
	} else {
		errs = append(errs, err)
	}
	if _, err := s.Write(ctx, []byte("x"), "1"); err == nil {
		t.Fatal("stale write succeeded")
	} else {
		errs = append(errs, err)
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), password) {
			t.Fatalf("error contains the password: %v", err)
		}
	}
	if strings.Contains(logs.String(), password) {
		t.Fatalf("logs contain the password: %s", logs.String())
	}
}

// A revision from another cluster or an old backup (here: ahead of this store,
// or equal to the key's revision but with other data) must not make Watch wait
// for a future that never comes: the current value is emitted.
func TestWatchForeignRevision(t *testing.T) {
	srv := harness.Etcd(t)
	s, c := newSource(t, srv, "/rules/foreign")
	ctx := ctxT(t)
	cur, err := s.Write(ctx, []byte("here"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []datasource.Snapshot{
		{Data: []byte("elsewhere"), Revision: "999999", Exists: true},
		{Data: []byte("elsewhere"), Revision: cur.Revision, Exists: true},
	} {
		w := sourcetest.Watch(t, s, from)
		if got := w.Next(t); string(got.Data) != "here" || got.Revision != cur.Revision {
			t.Fatalf("from %+v: emitted %q@%s, want here@%s", from, got.Data, got.Revision, cur.Revision)
		}
		w.Stop()
	}
	// The same state as the caller's: nothing to emit until a change.
	w := sourcetest.Watch(t, s, cur)
	w.None(t, 150*time.Millisecond)
	if _, err := c.Put(ctx, "/rules/foreign", "next"); err != nil {
		t.Fatal(err)
	}
	if got := w.Next(t); string(got.Data) != "next" {
		t.Fatalf("emitted %q, want next", got.Data)
	}
}

// TestWatchDetectsFrozenServer: a client without gRPC keepalive (the
// caller's own, passed to New) would wait on a frozen server's watch stream
// forever. After a silent health-check period the source asks the stream for
// a progress report; one that does not come back ends Watch with an error.
func TestWatchDetectsFrozenServer(t *testing.T) {
	srv := harness.Etcd(t)
	c := etcdtest.Client(t, srv) // the harness client sets no keepalive
	// Long enough for a loaded machine to answer a progress request within
	// one period.
	const period = 500 * time.Millisecond
	s, err := etcd.New(c, "/frozen", etcd.WithHealthCheck(period))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := sourcetest.Watch(t, s, datasource.Snapshot{})
	// Silent periods with an answering server leave Watch running.
	w.None(t, 4*period)
	w.Running(t)
	if err := srv.Pause(); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skip("server cannot be paused:", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Resume() })
	if err := w.End(t); !errors.Is(err, datasource.ErrSilent) || !strings.Contains(err.Error(), "progress request") {
		t.Fatalf("Watch returned %v, want the unanswered progress request", err)
	}
}
