package suites

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
)

// converge bounds how long a change may take to reach the engine. It is far
// above the real latency (see the propagation benchmark) so that a loaded
// machine does not fail the suite; it is a deadline, not a measurement.
const converge = 20 * time.Second

// rig is one datasource bound to one engine, the way an application wires them.
type rig struct {
	ds     *datasource.DataSource[[]flow.Rule]
	e      *engine.Engine
	mu     sync.Mutex
	events []datasource.Event
}

func startRig(t testing.TB, src datasource.Source, opts ...datasource.Option) *rig {
	t.Helper()
	r := &rig{e: engine.New()}
	opts = append([]datasource.Option{
		datasource.WithLogger(testLogger(t)),
		datasource.WithBackoff(10*time.Millisecond, 200*time.Millisecond),
		datasource.WithObserver(datasource.ObserverFunc(func(ev datasource.Event) {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		})),
	}, opts...)
	r.ds = datasource.New(src, converter.Flow(), opts...)
	t.Cleanup(func() {
		r.ds.Close()
		r.e.Close()
	})
	r.ds.Property().Subscribe(func(rules []flow.Rule) { r.e.Flow().Load(rules) })
	ctx, cancel := context.WithTimeout(context.Background(), converge)
	defer cancel()
	if err := r.ds.Start(ctx); err != nil {
		t.Fatalf("datasource start: %v", err)
	}
	return r
}

// resources returns the resources of the flow rules in force in the engine, sorted.
func (r *rig) resources() []string {
	var res []string
	for _, rule := range r.e.Flow().Rules() {
		res = append(res, rule.Resource)
	}
	slices.Sort(res)
	return res
}

// waitResources waits until the engine enforces exactly the rules for want.
func (r *rig) waitResources(t testing.TB, want ...string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	deadline := time.Now().Add(converge)
	for time.Now().Before(deadline) {
		if slices.Equal(r.resources(), want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("engine enforces %v, want %v (status %+v)", r.resources(), want, r.ds.Status())
}

func (r *rig) sawEvent(kind datasource.EventKind) *datasource.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.events {
		if r.events[i].Kind == kind {
			ev := r.events[i]
			return &ev
		}
	}
	return nil
}

func (r *rig) waitEvent(t testing.TB, kind datasource.EventKind) datasource.Event {
	t.Helper()
	deadline := time.Now().Add(converge)
	for time.Now().Before(deadline) {
		if ev := r.sawEvent(kind); ev != nil {
			return *ev
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %v event (status %+v)", kind, r.ds.Status())
	return datasource.Event{}
}

// blocked reports whether the engine blocks one call on resource.
func (r *rig) blocked(t testing.TB, resource string) bool {
	t.Helper()
	en, err := r.e.Entry(context.Background(), resource)
	if err == nil {
		en.Exit()
		return false
	}
	var be *engine.BlockError
	if !errors.As(err, &be) {
		t.Fatalf("entry %s: %v, want nil or a *BlockError", resource, err)
	}
	return true
}

// rulesJSON is a Sentinel flow-rule payload with one QPS rule of count 0 (block
// everything) per resource, as a Java app or the dashboard would store it.
func rulesJSON(resources ...string) []byte {
	rules := make([]map[string]any, 0, len(resources))
	for _, res := range resources {
		rules = append(rules, map[string]any{
			"resource": res, "limitApp": "default", "grade": 1, "count": 0,
			"strategy": 0, "controlBehavior": 0,
		})
	}
	b, _ := json.Marshal(rules)
	return b
}

// forEachBackend runs fn as a subtest per config center, each on a fresh server.
func forEachBackend(t *testing.T, fn func(t *testing.T, f fixture)) {
	forEach(t, false, fn)
}

// forEach is forEachBackend; restart picks the backends' restart fixtures
// where they have one.
func forEach(t *testing.T, restart bool, fn func(t *testing.T, f fixture)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			newFixture := b.new
			if restart && b.restart != nil {
				newFixture = b.restart
			}
			fn(t, newFixture(t, strings.ReplaceAll(t.Name(), "/", "-")+"-flow-rules"))
		})
	}
}

func TestInitialLoad(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f fixture) {
		f.Put(t, rulesJSON("GET:/orders", "GET:/users"))
		r := startRig(t, f.Source(t))
		// Start returns with the rules already enforced: no waiting.
		if got := r.resources(); !slices.Equal(got, []string{"GET:/orders", "GET:/users"}) {
			t.Fatalf("after Start the engine enforces %v", got)
		}
		if !r.blocked(t, "GET:/orders") {
			t.Fatal("GET:/orders passes although its rule allows 0 QPS")
		}
		if r.blocked(t, "GET:/other") {
			t.Fatal("a resource without rules was blocked")
		}
		if st := r.ds.Status(); st.RuleCount != 2 || !st.Exists || st.LastError != nil {
			t.Fatalf("status %+v, want 2 rules, exists, no error", st)
		}
	})
}

func TestMissingKeyThenCreated(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f fixture) {
		r := startRig(t, f.Source(t)) // the key does not exist: Start must not fail
		if got := r.resources(); len(got) != 0 {
			t.Fatalf("engine enforces %v with no key", got)
		}
		if st := r.ds.Status(); st.Exists || st.LastError != nil {
			t.Fatalf("status %+v, want missing key without error", st)
		}
		f.Put(t, rulesJSON("created"))
		r.waitResources(t, "created")
		if !r.blocked(t, "created") {
			t.Fatal("created rule not enforced")
		}
	})
}

func TestUpdatePropagates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f fixture) {
		f.Put(t, rulesJSON("v1"))
		r := startRig(t, f.Source(t))
		for i := 2; i <= 5; i++ {
			res := fmt.Sprintf("v%d", i)
			f.Put(t, rulesJSON(res))
			r.waitResources(t, res)
		}
		if r.blocked(t, "v1") || !r.blocked(t, "v5") {
			t.Fatal("engine still enforces the old rule or not the new one")
		}
	})
}

func TestDeleteClearsRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f fixture) {
		f.Put(t, rulesJSON("doomed"))
		r := startRig(t, f.Source(t))
		r.waitResources(t, "doomed")
		f.Delete(t)
		r.waitResources(t)
		r.waitEvent(t, datasource.Deleted)
		if r.blocked(t, "doomed") {
			t.Fatal("deleted rule still blocks")
		}
		// And the key can come back.
		f.Put(t, rulesJSON("reborn"))
		r.waitResources(t, "reborn")
	})
}

func TestInvalidPayloadKeepsLastGoodRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f fixture) {
		f.Put(t, rulesJSON("good"))
		r := startRig(t, f.Source(t))
		f.Put(t, []byte(`[{"resource": "broken", "count": `)) // truncated JSON
		ev := r.waitEvent(t, datasource.Unreadable)
		if ev.Err == nil || !errors.Is(ev.Err, datasource.ErrUnreadable) {
			t.Fatalf("unreadable event error %v, want ErrUnreadable", ev.Err)
		}
		if got := r.resources(); !slices.Equal(got, []string{"good"}) {
			t.Fatalf("after an unreadable payload the engine enforces %v, want the last good [good]", got)
		}
		if st := r.ds.Status(); st.LastError == nil {
			t.Fatalf("status %+v does not report the unreadable payload", st)
		}

		// A readable payload with one bad rule: the good one applies, the bad one is reported.
		f.Put(t, []byte(`[{"resource":"ok","count":0},{"resource":"","count":1}]`))
		r.waitResources(t, "ok")
		ev = r.waitEvent(t, datasource.Rejected)
		if ev.Report == nil || len(ev.Report.Rejected) != 1 || ev.Report.Rejected[0].Index != 1 {
			t.Fatalf("rejected event report %+v, want rule 1 rejected", ev.Report)
		}
	})
}

// Fifty writers append a unique rule each through datasource.Update, from five
// datasources with their own connections: compare-and-set must lose none.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f fixture) {
		if c, ok := f.(compareAndSetter); ok && c.compareAndSetBroken() != "" {
			t.Skip(c.compareAndSetBroken())
		}
		const dsCount, perDS = 5, 10
		var rigs []*rig
		for range dsCount {
			rigs = append(rigs, startRig(t, f.Source(t), datasource.WithMaxRetries(10_000)))
		}
		deadline := 2 * converge
		if s, ok := f.(slowWriters); ok {
			deadline = s.writersDeadline()
		}
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, dsCount*perDS)
		var want []string
		for i, r := range rigs {
			for j := range perDS {
				res := fmt.Sprintf("writer-%02d-%02d", i, j)
				want = append(want, res)
				wg.Go(func() {
					err := datasource.Update(ctx, r.ds, func(cur []flow.Rule) ([]flow.Rule, error) {
						rule := flow.DefaultRule()
						rule.Resource, rule.Count = res, 0
						return append(slices.Clone(cur), rule), nil
					})
					if err != nil {
						errs <- fmt.Errorf("%s: %w", res, err)
					}
				})
			}
		}
		wg.Wait()
		t.Logf("%d updates in %v", dsCount*perDS, time.Since(began).Round(time.Millisecond))
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
		// What is stored holds all fifty...
		snap, err := f.Source(t).Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stored, _, err := converter.Flow().Decode(snap.Data)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, rule := range stored {
			got = append(got, rule.Resource)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("stored %d rules %v, want all %d", len(got), got, len(want))
		}
		// ...and every datasource converges on them.
		for _, r := range rigs {
			r.waitResources(t, want...)
		}
	})
}

// defaultKillRuns is how many times TestConvergesAfterServerKill kills a server.
const defaultKillRuns = 20

// killPlanner is a fixture whose kill cycles differ from the default:
// defaultKillRuns kills of Server().
type killPlanner interface {
	// killPlan returns how many kill cycles to run and the servers to kill,
	// one per cycle, in turn.
	killPlan() (runs int, targets []harness.Server)
}

// The server dies (SIGKILL) under a running datasource, comes back, and the
// rules change there (etcd also compacts its history): the datasource must
// converge on the latest rules by itself, every time.
func TestConvergesAfterServerKill(t *testing.T) {
	forEach(t, true, func(t *testing.T, f fixture) {
		if rs, ok := f.(raceSensitive); ok && raceEnabled {
			t.Skip(rs.raceReason())
		}
		f.Put(t, rulesJSON("before-0"))
		r := startRig(t, f.Source(t))
		r.waitResources(t, "before-0")
		runs, targets := defaultKillRuns, []harness.Server{f.Server()}
		if p, ok := f.(killPlanner); ok {
			runs, targets = p.killPlan()
		}
		for i := range runs {
			srv := targets[i%len(targets)]
			if err := srv.Kill(); err != nil {
				t.Fatalf("run %d: kill: %v", i, err)
			}
			if err := srv.Restart(); err != nil {
				t.Fatalf("run %d: restart: %v", i, err)
			}
			f.AfterRestart(t)
			latest := fmt.Sprintf("after-%d", i)
			f.Put(t, rulesJSON(latest))
			r.waitResources(t, latest)
		}
		if ef, ok := f.(*etcdFixture); ok {
			// Whether the client's watch resumed before or after the compaction
			// is up to timing; both paths must converge, and the log shows which ran.
			t.Logf("etcd: compaction recoveries in %d runs: %d", runs, strings.Count(ef.logs.String(), "compacted"))
		}
		if _, ok := f.(*consulFixture); ok && r.sawEvent(datasource.Deleted) != nil {
			// The key survived every restart; a restarted server's first
			// answers must not have passed for a deletion.
			t.Errorf("consul: the datasource saw the key deleted although it survived %d restarts", runs)
		}
		if r.sawEvent(datasource.Reconnected) == nil && r.sawEvent(datasource.SourceError) == nil {
			// etcd's client may ride out a restart inside its own watch; that
			// is fine, but Redis must have noticed the dead subscription and
			// Consul its failed blocking query.
			switch f.(type) {
			case *redisFixture, *consulFixture:
				t.Errorf("%T: no SourceError/Reconnected event after %d kills", f, runs)
			}
		}
	})
}

// testLogger logs through t, so that a datasource's lines show with the
// test that failed and stay out of the output of the ones that pass (and
// out of benchmark timings, where t.Log only buffers).
func testLogger(t testing.TB) *slog.Logger {
	w := &tbWriter{t: t}
	// Registered before the datasources' own cleanups, so it runs after
	// them: a line logged once the test is over (t.Log would panic) is dropped.
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tbWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}
