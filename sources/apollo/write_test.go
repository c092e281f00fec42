package apollo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/apollo"
)

// Write -> release -> a second datasource, on its own agollo client,
// enforces it; the writer's own watch sees its write as a no-op.
func TestWriteReleasesToAnotherDatasource(t *testing.T) {
	b := protocolBackend(t)
	app, key := appOf(t), "demo-flow-rules"
	b.srv.(*harness.ApolloProtocolServer).AddNamespace(app, cluster, namespace)
	writer := startRig(t, open(t, b, app, key))
	reader := startRig(t, open(t, b, app, key))
	rule := flow.DefaultRule()
	rule.Resource, rule.Count = "GET:/written", 0
	if err := writer.ds.Write(ctxT(t), []flow.Rule{rule}); err != nil {
		t.Fatal(err)
	}
	reader.waitResources(t, "GET:/written")
	writer.waitResources(t, "GET:/written")
	if err := datasource.Update(ctxT(t), reader.ds, func(cur []flow.Rule) ([]flow.Rule, error) {
		r := flow.DefaultRule()
		r.Resource = "GET:/second"
		return append(cur, r), nil
	}); err != nil {
		t.Fatal(err)
	}
	writer.waitResources(t, "GET:/second", "GET:/written")
	// What a Java app reads: the released item.
	got, err := open(t, b, app, key).Read(ctxT(t))
	if err != nil || !bytes.Contains(got.Data, []byte("GET:/second")) {
		t.Fatalf("released value %q, %v", got.Data, err)
	}
}

// Two writers racing with read-modify-write through datasource.Update, each
// a datasource with its own client adding ten rules of its own, one after
// the other: none is lost. Two writers is what Apollo's checks cover: with
// three or more, one writer's release can publish another's unchecked update
// over a third one's success; and Apollo cannot tell updates of equal bytes
// apart, so the counter of sourcetest.ConcurrentCAS, whose racing writers
// store the same "n+1", does not hold for it (see the package doc).
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	b := protocolBackend(t, harness.WithApolloJitter(2*time.Millisecond))
	app := appOf(t)
	b.srv.(*harness.ApolloProtocolServer).AddNamespace(app, cluster, namespace)
	var want []string
	var wg sync.WaitGroup
	for i := range 2 {
		r := startRig(t, open(t, b, app, "k"), datasource.WithMaxRetries(10_000))
		var mine []string
		for j := range 10 {
			mine = append(mine, fmt.Sprintf("w%d-%d", i, j))
		}
		want = append(want, mine...)
		wg.Go(func() {
			for _, res := range mine {
				err := datasource.Update(ctxT(t), r.ds, func(cur []flow.Rule) ([]flow.Rule, error) {
					rule := flow.DefaultRule()
					rule.Resource = res
					return append(slices.Clone(cur), rule), nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	final := startRig(t, open(t, b, app, "k"))
	final.waitResources(t, want...)
}

// Two writers race from the same revision, step by step in every order the
// server lets them interleave: at most one succeeds, and whatever the
// released value is, it is the value of a writer that was told it succeeded,
// or, when both were told of a conflict, the value before the race or one of
// theirs; never a success that the other writer overwrote.
func TestRacingWritersOneConflicts(t *testing.T) {
	b := protocolBackend(t, harness.WithApolloJitter(5*time.Millisecond))
	app := appOf(t)
	put(t, b.srv, app, "k", "v0")
	x, y := open(t, b, app, "k"), open(t, b, app, "k")
	start, err := x.Read(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	stats := map[string]int{}
	for i := range 100 {
		var wg sync.WaitGroup
		var errX, errY error
		vx, vy := fmt.Sprintf("x%d", i), fmt.Sprintf("y%d", i)
		wg.Go(func() { _, errX = x.Write(ctxT(t), []byte(vx), start.Revision) })
		wg.Go(func() { _, errY = y.Write(ctxT(t), []byte(vy), start.Revision) })
		wg.Wait()
		for _, err := range []error{errX, errY} {
			if err != nil && !errors.Is(err, datasource.ErrConflict) {
				t.Fatalf("run %d: %v", i, err)
			}
		}
		cur, err := x.Read(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case errX == nil && errY == nil:
			t.Fatalf("run %d: both writers succeeded from one revision; released %q", i, cur.Data)
		case errX == nil && string(cur.Data) != vx, errY == nil && string(cur.Data) != vy:
			t.Fatalf("run %d: a writer was told it succeeded, but %q is released (x: %v, y: %v)", i, cur.Data, errX, errY)
		case errX == nil || errY == nil:
			stats["one succeeded"]++
		default:
			stats["both conflicted, released "+string(cur.Data[:1])]++
		}
		// Back to the race's starting point.
		if _, err := x.Write(ctxT(t), []byte("v0"), datasource.AnyRevision); err != nil {
			t.Fatalf("reset: %v", err)
		}
	}
	t.Logf("100 races: %v", stats)
}

// The checks Apollo allows before a write: a released value other than the
// expected revision, and unreleased edits in the namespace by someone else.
func TestWriteRefusesWhatWouldBeLost(t *testing.T) {
	b := protocolBackend(t)
	srv := b.srv.(*harness.ApolloProtocolServer)
	app := appOf(t)
	put(t, srv, app, "k", "v1")
	src := open(t, b, app, "k")
	cur, err := src.Read(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Write(ctxT(t), []byte("v2"), datasource.ContentRevision([]byte("other"))); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("stale revision: %v", err)
	}
	if _, err := src.Write(ctxT(t), []byte("v2"), ""); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("create over an existing item: %v", err)
	}
	// Someone edits another key in the portal and has not released it yet.
	other := &apolloProtocolUser{srv, "alice"}
	other.edit(t, app, "feature.flag", "on")
	_, err = src.Write(ctxT(t), []byte("v2"), cur.Revision)
	if !errors.Is(err, datasource.ErrConflict) || !strings.Contains(err.Error(), "feature.flag by alice") {
		t.Fatalf("pending edit of another key: %v", err)
	}
	if err := srv.Release(app, cluster, namespace); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Write(ctxT(t), []byte("v2"), cur.Revision); err != nil {
		t.Fatalf("after the release: %v", err)
	}
	if _, err := src.Write(ctxT(t), bytes.Repeat([]byte("x"), 20001), datasource.AnyRevision); !errors.Is(err, datasource.ErrTooLarge) {
		t.Fatalf("20001 characters: %v", err)
	}
	ro := open(t, b, app, "k", func(c *apollo.Config) { c.Portal, c.Token = "", "" })
	if _, err := ro.Write(ctxT(t), []byte("v3"), datasource.AnyRevision); !errors.Is(err, datasource.ErrNotWritable) {
		t.Fatalf("without a portal: %v", err)
	}
}

// apolloProtocolUser edits as another portal user than the Operator.
type apolloProtocolUser struct {
	srv  *harness.ApolloProtocolServer
	name string
}

func (u *apolloProtocolUser) edit(t *testing.T, app, key, value string) {
	t.Helper()
	if err := u.srv.SetAs(u.name, app, cluster, namespace, key, value); err != nil {
		t.Fatal(err)
	}
}

// The access-key secret and the OpenAPI token never appear in errors,
// events, Status or logs, whatever fails.
func TestCredentialsStayOut(t *testing.T) {
	const secret, token = "s3cret-access-key-42", "openapi-token-xyzzy-77"
	b := protocolBackend(t, harness.WithApolloSecret("cred-app", secret))
	put(t, b.srv, "cred-app", "k", rules("a"))
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := b.cfg
	cfg.AppID, cfg.Key, cfg.Secret, cfg.Token, cfg.HealthCheck = "cred-app", "k", secret, token, 200*time.Millisecond
	src, err := apollo.Open(ctxT(t), cfg, apollo.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, src, datasource.WithLogger(log))
	var errs []string
	// A wrong token: the OpenAPI answers 401.
	_, err = src.Write(ctxT(t), []byte(rules("b")), datasource.AnyRevision)
	errs = append(errs, fmt.Sprint(err))
	if err == nil {
		t.Fatal("write with a token the portal does not know succeeded")
	}
	// The server goes away: reads, watch and writes fail.
	if err := b.srv.Kill(); err != nil {
		t.Fatal(err)
	}
	r.waitEvent(t, datasource.SourceError)
	_, err = src.Write(ctxT(t), []byte(rules("c")), datasource.AnyRevision)
	errs = append(errs, fmt.Sprint(err), fmt.Sprint(r.ds.Status()), cfg.String(), fmt.Sprint(src))
	for _, ev := range r.allEvents() {
		errs = append(errs, fmt.Sprint(ev.Err))
	}
	mu.Lock()
	errs = append(errs, logs.String())
	mu.Unlock()
	for _, s := range errs {
		if containsAny(s, secret, token) {
			t.Fatalf("credential in %q", s)
		}
	}
	if !strings.Contains(cfg.String(), "token=REDACTED") || !strings.Contains(cfg.String(), "secret=REDACTED") {
		t.Fatalf("Config.String() = %s", cfg)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Close stops what agollo started: its goroutines end once the poll they
// hold returns (the server holds polls 1 s here), and none of the source's
// remain.
func TestCloseStopsGoroutines(t *testing.T) {
	b := protocolBackend(t, harness.WithApolloHold(time.Second))
	app := appOf(t)
	put(t, b.srv, app, "k", "v")
	before := len(sourceGoroutines())
	for i := range 5 {
		src := open(t, b, app, fmt.Sprintf("k%d", i))
		w := sourcetest.Watch(t, src, datasource.Snapshot{})
		time.Sleep(300 * time.Millisecond) // agollo started, its poll held
		w.Stop()
		if err := w.End(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("watch ended with %v", err)
		}
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var left []string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if left = sourceGoroutines(); len(left) <= before {
			return
		}
	}
	t.Fatalf("%d goroutines of agollo or the source left after Close (%d before):\n%s", len(left), before, strings.Join(left, "\n\n"))
}
