package apollo_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/datasource/sourcetest"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/apollo"
)

// The payload states, each through agollo's notifications and the source's
// reads, against apollo-mock-server and the Apollo-protocol test server.
func TestPayloadStates(t *testing.T) {
	forEachReadBackend(t, func(t *testing.T, b backend) {
		app, key := appOf(t), "demo-flow-rules"
		put(t, b.srv, app, "other", "x") // the namespace has a release, without the key
		r := startRig(t, open(t, b, app, key))
		if st := r.ds.Status(); st.Exists || st.LastError != nil || len(r.resources()) != 0 {
			t.Fatalf("missing key: status %+v, rules %v", st, r.resources())
		}

		put(t, b.srv, app, key, rules("created"))
		r.waitResources(t, "created")

		for i := 2; i <= 4; i++ {
			put(t, b.srv, app, key, rules(fmt.Sprintf("v%d", i)))
			r.waitResources(t, fmt.Sprintf("v%d", i))
		}

		put(t, b.srv, app, key, `[{"resource": "broken", "count": `)
		ev := r.waitEvent(t, datasource.Unreadable)
		if !errors.Is(ev.Err, datasource.ErrUnreadable) {
			t.Fatalf("unreadable event: %v", ev.Err)
		}
		if got := r.resources(); !slices.Equal(got, []string{"v4"}) {
			t.Fatalf("after an unreadable value: %v, want the last good [v4]", got)
		}
		if st := r.ds.Status(); st.LastError == nil {
			t.Fatalf("status %+v does not report the unreadable value", st)
		}

		if err := b.srv.Delete(app, cluster, namespace, key); err != nil {
			t.Fatal(err)
		}
		if err := b.srv.Release(app, cluster, namespace); err != nil {
			t.Fatal(err)
		}
		r.waitEvent(t, datasource.Deleted)
		r.waitResources(t)

		put(t, b.srv, app, key, rules("reborn"))
		r.waitResources(t, "reborn")
	})
}

// A namespace that was never released (the config service answers 404)
// reads as a missing key, without error, and is picked up once released.
func TestUnreleasedNamespaceIsMissing(t *testing.T) {
	forEachReadBackend(t, func(t *testing.T, b backend) {
		app, key := appOf(t), "demo-flow-rules"
		src := open(t, b, app, key, func(c *apollo.Config) { c.HealthCheck = 2 * time.Second })
		r := startRig(t, src)
		if st := r.ds.Status(); st.Exists || st.LastError != nil {
			t.Fatalf("status %+v, want missing without error", st)
		}
		time.Sleep(500 * time.Millisecond) // watching
		put(t, b.srv, app, key, rules("first"))
		r.waitResources(t, "first")
	})
}

// The Watcher contract: the current value when it differs from the caller's,
// then each change once, in order; nothing for a change of another key.
func TestWatchEmitsChangesOfItsKeyInOrder(t *testing.T) {
	forEachReadBackend(t, func(t *testing.T, b backend) {
		app, key := appOf(t), "demo-flow-rules"
		put(t, b.srv, app, key, "v0")
		src := open(t, b, app, key)
		w := sourcetest.Watch(t, src, datasource.Snapshot{})
		if s := w.Next(t); string(s.Data) != "v0" {
			t.Fatalf("first snapshot %q, want v0", s.Data)
		}
		for i := 1; i <= 5; i++ {
			put(t, b.srv, app, key, fmt.Sprintf("v%d", i))
			// A release of another key alone wakes nothing.
			put(t, b.srv, app, "unrelated", fmt.Sprintf("u%d", i))
			if s := w.Next(t); string(s.Data) != fmt.Sprintf("v%d", i) {
				t.Fatalf("snapshot %q, want v%d", s.Data, i)
			}
		}
		w.None(t, 2*time.Second)
		w.Running(t)
	})
}

// The server is killed, left down for half a second and restarted under a
// running datasource 20 times in a row, and the rules change there each
// time: the datasource converges by itself every time. agollo pauses its long
// poll for 30 s after a poll fails, so most runs converge through the
// source's health read (a 2 s period here).
func TestConvergesAfterServerRestart(t *testing.T) {
	forEachReadBackend(t, func(t *testing.T, b backend) {
		app, key := appOf(t), "demo-flow-rules"
		put(t, b.srv, app, key, rules("before"))
		r := startRig(t, open(t, b, app, key, func(c *apollo.Config) { c.HealthCheck = 2 * time.Second }))
		r.waitResources(t, "before")
		const runs = 20
		var took []time.Duration
		for i := range runs {
			if err := b.srv.Kill(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			if err := b.srv.Restart(); err != nil {
				t.Fatal(err)
			}
			latest := fmt.Sprintf("after-%d", i)
			t0 := time.Now()
			put(t, b.srv, app, key, rules(latest))
			r.waitResources(t, latest)
			took = append(took, time.Since(t0))
		}
		slices.Sort(took)
		t.Logf("%s: %d/%d restarts converged; release->applied after restart: median %v, max %v",
			b.name, runs, runs, took[runs/2].Round(time.Millisecond), took[runs-1].Round(time.Millisecond))
	})
}

// A paused server (connections open, nothing answers) is noticed by the
// health reads: Watch ends with ErrSilent within two periods.
func TestPausedServerEndsWatch(t *testing.T) {
	b := protocolBackend(t)
	app, key := appOf(t), "demo-flow-rules"
	put(t, b.srv, app, key, "v0")
	src := open(t, b, app, key, func(c *apollo.Config) { c.HealthCheck = 300 * time.Millisecond })
	cur, err := src.Read(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	w := sourcetest.Watch(t, src, cur)
	time.Sleep(100 * time.Millisecond) // past Watch's first read
	if err := b.srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.srv.Resume() })
	if err := w.End(t); !errors.Is(err, datasource.ErrSilent) {
		t.Fatalf("Watch ended with %v, want ErrSilent", err)
	}
}

// Several sources in one process, of two apps and two keys, each on its own
// agollo client: each sees its own changes only, closing one leaves the
// others working, and a third app whose namespace was never released (so
// that agollo's first request for it fails) does not hold the others back
// beyond their health period.
func TestSeveralClientsInOneProcess(t *testing.T) {
	b := protocolBackend(t)
	appA, appB, appC := appOf(t)+"-a", appOf(t)+"-b", appOf(t)+"-c"
	put(t, b.srv, appA, "k1", "a1")
	put(t, b.srv, appB, "k1", "b1")
	fast := func(c *apollo.Config) { c.HealthCheck = 3 * time.Second }
	_ = startRig(t, open(t, b, appC, "k1", fast)) // 404 for agollo's first sync
	a1, a2 := open(t, b, appA, "k1", fast), open(t, b, appA, "k2", fast)
	bb := open(t, b, appB, "k1", fast)
	wa1 := sourcetest.Watch(t, a1, datasource.Snapshot{})
	wa2 := sourcetest.Watch(t, a2, datasource.Snapshot{})
	wb := sourcetest.Watch(t, bb, datasource.Snapshot{})
	if string(wa1.Next(t).Data) != "a1" || string(wb.Next(t).Data) != "b1" {
		t.Fatal("first values wrong")
	}
	t0 := time.Now()
	put(t, b.srv, appA, "k2", "a2")
	if s := wa2.Next(t); string(s.Data) != "a2" {
		t.Fatalf("a/k2 got %q", s.Data)
	}
	t.Logf("app A's change seen after %v", time.Since(t0).Round(time.Millisecond))
	put(t, b.srv, appB, "k1", "b2")
	if s := wb.Next(t); string(s.Data) != "b2" {
		t.Fatalf("b got %q", s.Data)
	}
	wa1.None(t, time.Second)
	if err := a2.Close(); err != nil {
		t.Fatal(err)
	}
	put(t, b.srv, appA, "k1", "a3")
	if s := wa1.Next(t); string(s.Data) != "a3" {
		t.Fatalf("a/k1 after closing a/k2: %q", s.Data)
	}
	put(t, b.srv, appC, "k1", "c1")
}

// The config service's access key: a source with the app's secret reads and
// follows changes; a wrong one gets an error that does not quote it.
func TestSecret(t *testing.T) {
	const secret = "s3cret-apollo-access-key"
	b := protocolBackend(t, harness.WithApolloSecret("sec-app", secret))
	put(t, b.srv, "sec-app", "k", rules("v1"))
	good := open(t, b, "sec-app", "k", func(c *apollo.Config) { c.Secret = secret })
	r := startRig(t, good)
	if st := r.ds.Status(); st.Revision != datasource.ContentRevision([]byte(rules("v1"))) {
		t.Fatalf("status %+v", st)
	}
	put(t, b.srv, "sec-app", "k", rules("signed"))
	r.waitResources(t, "signed")

	const wrong = "not-the-secret-xyz"
	bad := open(t, b, "sec-app", "k", func(c *apollo.Config) { c.Secret = wrong })
	_, err := bad.Read(ctxT(t))
	if err == nil {
		t.Fatal("read with a wrong secret succeeded")
	}
	none := open(t, b, "sec-app", "k")
	if _, err := none.Read(ctxT(t)); err == nil {
		t.Fatal("read without the secret succeeded")
	}
	for _, s := range []string{err.Error(), fmt.Sprint(bad)} {
		if containsAny(s, secret, wrong) {
			t.Fatalf("secret in %q", s)
		}
	}
}
