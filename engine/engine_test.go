package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/internal/stat"
	"github.com/rulesync/rulesync/engine/param"
)

const start = 100_000

func qps(res string, count float64) flow.Rule {
	r := flow.DefaultRule()
	r.Resource = res
	r.Count = count
	return r
}

func newEngine(t *testing.T) (*engine.Engine, *stat.ManualClock) {
	t.Helper()
	clock := stat.NewManualClock(start)
	e := engine.New(engine.WithClock(clock))
	t.Cleanup(func() { _ = e.Close() })
	return e, clock
}

func TestContextValues(t *testing.T) {
	ctx := context.Background()
	if engine.OriginFrom(ctx) != "" || engine.EntranceFrom(ctx) != "" {
		t.Fatal("empty context carries an origin or entrance")
	}
	ctx = engine.WithEntrance(engine.WithOrigin(ctx, "appA"), "web")
	if got := engine.OriginFrom(ctx); got != "appA" {
		t.Errorf("origin = %q", got)
	}
	if got := engine.EntranceFrom(ctx); got != "web" {
		t.Errorf("entrance = %q", got)
	}
	// A plain string key must not collide with ours.
	ctx = context.WithValue(ctx, "origin", "evil") //nolint:staticcheck // the collision is the test
	if got := engine.OriginFrom(ctx); got != "appA" {
		t.Errorf("origin after a string-keyed value = %q", got)
	}
}

func TestStatistics(t *testing.T) {
	e, clock := newEngine(t)
	ctx := engine.WithEntrance(engine.WithOrigin(context.Background(), "appA"), "web")

	en, err := e.Entry(ctx, "res", engine.Inbound(), engine.WithCount(3))
	if err != nil {
		t.Fatal(err)
	}
	rn := engine.RegistryOf(e).Lookup("res")
	nodes := map[string]*stat.Node{
		"resource": rn.Node, "origin": rn.LookupOrigin("appA"), "entrance": rn.LookupEntrance("web"), "inbound": engine.InboundNodeOf(e),
	}
	now := clock.NowMs()
	for name, n := range nodes {
		if n == nil {
			t.Fatalf("%s node missing", name)
		}
		if got := n.PassQPS(now); got != 3 {
			t.Errorf("%s pass = %v, want 3", name, got)
		}
		if n.Threads() != 1 {
			t.Errorf("%s threads = %d, want 1", name, n.Threads())
		}
	}
	clock.Advance(40 * time.Millisecond)
	en.Exit(engine.WithError(errors.New("boom")))
	now = clock.NowMs()
	for name, n := range nodes {
		if n.Threads() != 0 {
			t.Errorf("%s threads after exit = %d", name, n.Threads())
		}
		if got := n.SuccessQPS(now); got != 3 {
			t.Errorf("%s success = %v, want 3", name, got)
		}
		if got := n.ErrorQPS(now); got != 3 {
			t.Errorf("%s errors = %v, want 3", name, got)
		}
		// AvgRT divides the RT sum (one completion of 40 ms) by the completed count.
		if got := n.AvgRT(now); got != 40.0/3 {
			t.Errorf("%s avg rt = %v, want %v", name, got, 40.0/3)
		}
	}

	// A plain call: no origin or entrance node, not inbound, success without error.
	en, err = e.Entry(context.Background(), "res")
	if err != nil {
		t.Fatal(err)
	}
	en.Exit(engine.WithError(nil))
	if got := rn.Node.ErrorQPS(now); got != 3 {
		t.Errorf("resource errors = %v, want still 3", got)
	}
	if got := engine.InboundNodeOf(e).PassQPS(now); got != 3 {
		t.Errorf("inbound pass = %v, want 3 (second call was not inbound)", got)
	}
}

func TestBlockedEntry(t *testing.T) {
	e, clock := newEngine(t)
	e.Flow().Load([]flow.Rule{qps("res", 1)})
	ctx := engine.WithOrigin(context.Background(), "appA")

	en, err := e.Entry(ctx, "res", engine.Inbound())
	if err != nil {
		t.Fatal(err)
	}
	en2, err := e.Entry(ctx, "res", engine.Inbound())
	if en2 != nil {
		t.Fatal("blocked Entry returned an entry")
	}
	var be *engine.BlockError
	if !errors.As(err, &be) || !errors.Is(err, engine.ErrBlocked) {
		t.Fatalf("err = %v, want a *BlockError", err)
	}
	if be.Family != base.FamilyFlow || be.Resource != "res" {
		t.Fatalf("block = %+v", be)
	}
	en2.Exit() // nil entry: no-op

	rn := engine.RegistryOf(e).Lookup("res")
	now := clock.NowMs()
	for name, n := range map[string]*stat.Node{"resource": rn.Node, "origin": rn.LookupOrigin("appA"), "inbound": engine.InboundNodeOf(e)} {
		if n.BlockQPS(now) != 1 || n.PassQPS(now) != 1 {
			t.Errorf("%s: block %v pass %v, want 1 and 1", name, n.BlockQPS(now), n.PassQPS(now))
		}
		if n.Threads() != 1 {
			t.Errorf("%s threads = %d, want 1 (only the passed call)", name, n.Threads())
		}
	}
	en.Exit()
	en.Exit() // second Exit: no-op
	if rn.Node.Threads() != 0 {
		t.Fatalf("threads = %d after one call exited twice, want 0", rn.Node.Threads())
	}
	if got := rn.Node.SuccessQPS(now); got != 1 {
		t.Fatalf("success = %v, want 1", got)
	}
}

func TestSlotOrder(t *testing.T) {
	e, _ := newEngine(t)
	black := authority.Rule{Resource: "res", LimitApp: "bad", Strategy: authority.StrategyBlack}
	if rep := e.Authority().Load([]authority.Rule{black}); len(rep.Rejected) > 0 {
		t.Fatal(rep.Rejected)
	}
	e.Flow().Load([]flow.Rule{qps("res", 0)})

	// Authority runs before flow: the black-listed caller is told so.
	_, err := e.Entry(engine.WithOrigin(context.Background(), "bad"), "res")
	var be *engine.BlockError
	if !errors.As(err, &be) || be.Family != base.FamilyAuthority {
		t.Fatalf("err = %v, want an authority block", err)
	}
	_, err = e.Entry(engine.WithOrigin(context.Background(), "good"), "res")
	if !errors.As(err, &be) || be.Family != base.FamilyFlow {
		t.Fatalf("err = %v, want a flow block", err)
	}
}

// TestOriginOption: engine.Origin names the caller of one call, over the
// context's origin, for authority rules and a flow rule's limitApp.
func TestOriginOption(t *testing.T) {
	e, _ := newEngine(t)
	black := authority.Rule{Resource: "res", LimitApp: "bad", Strategy: authority.StrategyBlack}
	if rep := e.Authority().Load([]authority.Rule{black}); len(rep.Rejected) > 0 {
		t.Fatal(rep.Rejected)
	}
	limited := qps("res", 0)
	limited.LimitApp = "limited"
	e.Flow().Load([]flow.Rule{limited})

	good := engine.WithOrigin(context.Background(), "good")
	var be *engine.BlockError
	if _, err := e.Entry(good, "res", engine.Origin("bad")); !errors.As(err, &be) || be.Family != base.FamilyAuthority {
		t.Fatalf("Origin(bad) over a context saying good: err = %v, want an authority block", err)
	}
	if _, err := e.Entry(context.Background(), "res", engine.Origin("limited")); !errors.As(err, &be) || be.Family != base.FamilyFlow {
		t.Fatalf("Origin(limited): err = %v, want the limitApp flow rule to block", err)
	}
	en, err := e.Entry(engine.WithOrigin(context.Background(), "bad"), "res", engine.Origin("good"))
	if err != nil {
		t.Fatalf("Origin(good) over a context saying bad: %v", err)
	}
	en.Exit()
	if _, err := e.Entry(engine.WithOrigin(context.Background(), "bad"), "res", engine.Origin("")); !errors.As(err, &be) || be.Family != base.FamilyAuthority {
		t.Fatalf("an empty Origin must leave the context's in force: err = %v", err)
	}
}

func TestParamConcurrencyReleasedWhenFlowBlocks(t *testing.T) {
	e, _ := newEngine(t)
	pr := param.DefaultRule()
	pr.Resource = "res"
	pr.Grade = param.GradeThread
	pr.Count = 1
	if rep := e.Param().Load([]param.Rule{pr}); len(rep.Rejected) > 0 {
		t.Fatal(rep.Rejected)
	}
	e.Flow().Load([]flow.Rule{qps("res", 0)})
	for range 3 {
		if _, err := e.Entry(context.Background(), "res", engine.WithArgs("u1")); err == nil {
			t.Fatal("flow count 0 passed a call")
		} else if be := new(engine.BlockError); errors.As(err, &be) && be.Family != base.FamilyFlow {
			t.Fatalf("blocked by %s: the param slot leaked the concurrency of an earlier blocked call", be.Family)
		}
	}
	e.Flow().Load(nil)
	en, err := e.Entry(context.Background(), "res", engine.WithArgs("u1"))
	if err != nil {
		t.Fatalf("after flow rules cleared: %v", err)
	}
	if _, err := e.Entry(context.Background(), "res", engine.WithArgs("u1")); err == nil {
		t.Fatal("second concurrent call with the same value passed a param limit of 1")
	}
	en.Exit()
	en, err = e.Entry(context.Background(), "res", engine.WithArgs("u1"))
	if err != nil {
		t.Fatalf("after exit: %v", err)
	}
	en.Exit()
}

func TestPrioritizedEntryWaits(t *testing.T) {
	e, clock := newEngine(t)
	e.Flow().Load([]flow.Rule{qps("res", 1)})
	en, err := e.Entry(context.Background(), "res")
	if err != nil {
		t.Fatal(err)
	}
	en.Exit()
	clock.Advance(700 * time.Millisecond)
	if _, err := e.Entry(context.Background(), "res"); err == nil {
		t.Fatal("plain call passed over the limit")
	}
	en, err = e.Entry(context.Background(), "res", engine.Prioritized())
	if err != nil {
		t.Fatalf("prioritized call: %v", err)
	}
	if clock.NowMs() != start+1000 {
		t.Fatalf("clock at %d, want the prioritized call to wait until %d", clock.NowMs(), start+1000)
	}
	en.Exit()
	// The borrowed pass counts in the new second.
	if got := engine.RegistryOf(e).Lookup("res").Node.PassQPS(clock.NowMs()); got != 1 {
		t.Fatalf("pass in the new window = %v, want 1", got)
	}
}

func TestMaxResources(t *testing.T) {
	clock := stat.NewManualClock(start)
	e := engine.New(engine.WithClock(clock), engine.WithMaxResources(2))
	for _, res := range []string{"a", "b", "c"} {
		en, err := e.Entry(context.Background(), res, engine.Inbound())
		if err != nil {
			t.Fatalf("%s: %v", res, err)
		}
		en.Exit()
	}
	if engine.RegistryOf(e).Len() != 2 || engine.RegistryOf(e).Lookup("c") != nil {
		t.Fatalf("registry holds %d resources, want 2 without c", engine.RegistryOf(e).Len())
	}
	if got := engine.InboundNodeOf(e).PassQPS(clock.NowMs()); got != 3 {
		t.Fatalf("inbound pass = %v, want 3 (c is still inbound traffic)", got)
	}
}

func TestConcurrentEntryExitWhileReloading(t *testing.T) {
	e := engine.New() // the real clock: this test is about races, not numbers
	defer e.Close()
	e.Flow().Load([]flow.Rule{qps("res", 1e9)})
	var wg, started sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			ctx := engine.WithOrigin(context.Background(), []string{"a", "b"}[g%2])
			first := true
			defer func() {
				if first { // ended before its first call passed
					started.Done()
				}
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				en, err := e.Entry(ctx, "res", engine.Inbound())
				if err != nil {
					errs <- err
					return
				}
				en.Exit()
				if first {
					// The reloads below must race with calls in flight, and
					// the resource's node must exist for the final check.
					started.Done()
					first = false
				}
			}
		}()
	}
	started.Wait()
	for i := range 300 {
		rules := []flow.Rule{qps("res", 1e9), qps("other", float64(i))}
		if i%3 == 0 {
			r := qps("res", 1e9)
			r.LimitApp = "a"
			rules = append(rules, r)
		}
		e.Flow().Load(rules)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("call blocked under count 1e9: %v", err)
	}
	if th := engine.RegistryOf(e).Lookup("res").Node.Threads(); th != 0 {
		t.Fatalf("threads = %d after all calls exited", th)
	}
}

func TestDefault(t *testing.T) {
	if engine.Default() == nil || engine.Default() != engine.Default() {
		t.Fatal("Default must return one engine")
	}
}

func TestWithCountAcquiresTokens(t *testing.T) {
	e, clock := newEngine(t)
	e.Flow().Load([]flow.Rule{qps("res", 5)})
	ctx := context.Background()
	en, err := e.Entry(ctx, "res", engine.WithCount(3))
	if err != nil {
		t.Fatal(err)
	}
	en.Exit()
	if _, err := e.Entry(ctx, "res", engine.WithCount(3)); err == nil {
		t.Fatal("3 + 3 tokens passed a limit of 5")
	}
	en, err = e.Entry(ctx, "res", engine.WithCount(2))
	if err != nil {
		t.Fatalf("3 + 2 tokens blocked under a limit of 5: %v", err)
	}
	en.Exit()
	if got := engine.RegistryOf(e).Lookup("res").Node.PassQPS(clock.NowMs()); got != 5 {
		t.Fatalf("pass = %v, want 5 tokens", got)
	}
}

func TestThreadGradeThroughEngine(t *testing.T) {
	e, _ := newEngine(t)
	r := qps("res", 1)
	r.Grade = flow.GradeThread
	e.Flow().Load([]flow.Rule{r})
	ctx := context.Background()
	en, err := e.Entry(ctx, "res")
	if err != nil {
		t.Fatal(err)
	}
	// Prioritized does not borrow for concurrency limits.
	if _, err := e.Entry(ctx, "res", engine.Prioritized()); err == nil {
		t.Fatal("second concurrent call passed a concurrency limit of 1")
	}
	en.Exit()
	en, err = e.Entry(ctx, "res")
	if err != nil {
		t.Fatalf("after the first call exited: %v", err)
	}
	en.Exit()
}
