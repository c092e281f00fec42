package flow_test

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

func TestQPSLimitWithinWindow(t *testing.T) {
	clock := stat.NewManualClock(start)
	rule := qps("res", 5)
	h := newHarness(t, clock, rule)

	if got := h.passes("res", call{}, 5); got != 5 {
		t.Fatalf("first 5 calls: %d passed, want 5", got)
	}
	_, be := h.enter("res", call{})
	if be == nil {
		t.Fatal("6th call in the same second passed")
	}
	if !errors.Is(be, base.ErrBlocked) || be.Family != base.FamilyFlow || be.Resource != "res" {
		t.Errorf("block error = %+v", be)
	}
	if r, ok := be.Rule.(flow.Rule); !ok || !r.Equal(rule) {
		t.Errorf("block names rule %#v, want %#v", be.Rule, rule)
	}
	// Half a second later the first bucket is still in the one-second window.
	clock.Advance(500 * time.Millisecond)
	if h.pass("res", call{}) {
		t.Fatal("call 500 ms later passed while the window still holds 5 passes")
	}
	clock.Advance(500 * time.Millisecond)
	if got := h.passes("res", call{}, 10); got != 5 {
		t.Fatalf("next second: %d of 10 passed, want 5", got)
	}
}

func TestQPSSlidingWindow(t *testing.T) {
	// 3 passes in the first half second and 2 in the second: when the first
	// bucket slides out, exactly 3 more fit.
	clock := stat.NewManualClock(start)
	h := newHarness(t, clock, qps("res", 5))
	h.passes("res", call{}, 3)
	clock.Advance(500 * time.Millisecond)
	if got := h.passes("res", call{}, 5); got != 2 {
		t.Fatalf("second bucket: %d passed, want 2", got)
	}
	clock.Advance(500 * time.Millisecond)
	if got := h.passes("res", call{}, 5); got != 3 {
		t.Fatalf("after the first bucket slid out: %d passed, want 3", got)
	}
}

func TestThreadGrade(t *testing.T) {
	clock := stat.NewManualClock(start)
	r := qps("res", 2)
	r.Grade = flow.GradeThread
	h := newHarness(t, clock, r)

	c1, be1 := h.enter("res", call{})
	_, be2 := h.enter("res", call{})
	if be1 != nil || be2 != nil {
		t.Fatalf("two concurrent calls under a limit of 2 blocked: %v %v", be1, be2)
	}
	_, be := h.enter("res", call{})
	if be == nil {
		t.Fatal("third concurrent call passed")
	}
	if !strings.Contains(be.Reason, "concurrency") {
		t.Errorf("reason %q does not say concurrency", be.Reason)
	}
	// Time does not matter for concurrency: only completion frees a slot.
	clock.Advance(5 * time.Second)
	if h.pass("res", call{}) {
		t.Fatal("call passed before any completed")
	}
	h.exit(c1)
	if !h.pass("res", call{}) {
		t.Fatal("call blocked after one completed")
	}
}

// perSecond sends calls each second until one blocks (at most 1000) and returns
// the passes per second.
func perSecond(h *harness, clock *stat.ManualClock, res string, seconds int) []int {
	out := make([]int, seconds)
	for s := range seconds {
		for range 1000 {
			if !h.pass(res, call{}) {
				break
			}
			out[s]++
		}
		clock.Advance(time.Second)
	}
	return out
}

func TestWarmUpSlope(t *testing.T) {
	clock := stat.NewManualClock(start)
	r := qps("res", 30)
	r.ControlBehavior = base.BehaviorWarmUp
	r.WarmUpPeriodSec = 10
	h := newHarness(t, clock, r)

	got := perSecond(h, clock, "res", 25)
	if got[0] != 10 {
		t.Fatalf("cold start allowed %d in the first second, want count/coldFactor = 10 (all: %v)", got[0], got)
	}
	full := -1
	for i, n := range got {
		if n > 30 {
			t.Fatalf("second %d allowed %d > count 30: %v", i, n, got)
		}
		if i > 0 && n < got[i-1] {
			t.Fatalf("allowed rate fell from %d to %d at second %d: %v", got[i-1], n, i, got)
		}
		if n == 30 && full < 0 {
			full = i
		}
	}
	// Sentinel's bucket drains ~(maxToken - warningToken) = 150 tokens before the
	// rate reaches count: that takes several seconds, not one.
	if full < 4 || full > 15 {
		t.Fatalf("reached count at second %d, want a gradual climb (4..15): %v", full, got)
	}
	between := 0
	for _, n := range got[:full] {
		if n > 10 && n < 30 {
			between++
		}
	}
	if between < 2 {
		t.Fatalf("rate jumped from cold to count instead of climbing: %v", got)
	}
	t.Logf("passes per second: %v", got)

	// A long idle period cools the resource down again.
	clock.Advance(time.Minute)
	if again := perSecond(h, clock, "res", 1); again[0] != 10 {
		t.Fatalf("after a minute idle: %d allowed, want 10 again", again[0])
	}
}

func TestRateLimiterSpacing(t *testing.T) {
	clock := &recordingClock{ManualClock: stat.NewManualClock(start)}
	r := qps("res", 10) // one call per 100 ms
	r.ControlBehavior = base.BehaviorRateLimiter
	r.MaxQueueingTimeMs = 500
	h := newHarness(t, clock, r)

	for k := range 6 {
		if !h.pass("res", call{}) {
			t.Fatalf("call %d blocked; its wait %d ms is within the queue", k, k*100)
		}
	}
	want := []time.Duration{100, 200, 300, 400, 500}
	got := clock.take()
	if len(got) != len(want) {
		t.Fatalf("waits = %v, want %v ms", got, want)
	}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("wait of queued call %d = %v, want %v", i+1, got[i], want[i]*time.Millisecond)
		}
	}
	_, be := h.enter("res", call{})
	if be == nil {
		t.Fatal("call that would wait 600 ms > maxQueueingTimeMs 500 passed")
	}
	if !strings.Contains(be.Reason, "queueing") {
		t.Errorf("reason %q", be.Reason)
	}
	if s := clock.take(); len(s) != 0 {
		t.Errorf("a blocked call slept %v", s)
	}
	// Once the queue has drained, a call passes at once.
	clock.Advance(time.Second)
	if !h.pass("res", call{}) || len(clock.take()) != 0 {
		t.Fatal("call after the queue drained did not pass at once")
	}
}

func TestRateLimiterMovesCallTime(t *testing.T) {
	clock := stat.NewManualClock(start)
	r := qps("res", 4) // 250 ms apart
	r.ControlBehavior = base.BehaviorRateLimiter
	h := newHarness(t, clock, r)
	h.pass("res", call{})
	c, be := h.enter("res", call{})
	if be != nil {
		t.Fatal(be)
	}
	if c.NowMs != start+250 {
		t.Fatalf("queued call counted at %d, want %d (after its wait)", c.NowMs, start+250)
	}
}

// TestRateLimiterBlockSaysHowLong: a call refused because the queue is full
// learns how long it would have had to wait (for a Retry-After); a plain QPS
// block does not know.
func TestRateLimiterBlockSaysHowLong(t *testing.T) {
	r := qps("res", 4) // 250 ms apart
	r.ControlBehavior = base.BehaviorRateLimiter
	r.MaxQueueingTimeMs = 100
	h := newHarness(t, stat.NewManualClock(start), r)
	h.pass("res", call{})
	_, be := h.enter("res", call{})
	if be == nil || be.WaitMs != 250 {
		t.Fatalf("block %+v, want WaitMs 250", be)
	}
	h2 := newHarness(t, stat.NewManualClock(start), qps("res", 1))
	h2.pass("res", call{})
	if _, be := h2.enter("res", call{}); be == nil || be.WaitMs != 0 {
		t.Fatalf("plain QPS block %+v, want WaitMs 0", be)
	}
}

func TestRateLimiterZeroCountBlocks(t *testing.T) {
	r := qps("res", 0)
	r.ControlBehavior = base.BehaviorRateLimiter
	h := newHarness(t, stat.NewManualClock(start), r)
	if h.pass("res", call{}) {
		t.Fatal("count 0 passed a call")
	}
}

func TestWarmUpRateLimiter(t *testing.T) {
	clock := &recordingClock{ManualClock: stat.NewManualClock(start)}
	r := qps("res", 30)
	r.ControlBehavior = base.BehaviorWarmUpRateLimiter
	r.WarmUpPeriodSec = 10
	r.MaxQueueingTimeMs = 1000
	h := newHarness(t, clock, r)
	h.pass("res", call{})
	h.pass("res", call{})
	got := clock.take()
	// Cold: 10 QPS, so 100 ms apart rather than count's 33 ms.
	if len(got) != 1 || got[0] != 100*time.Millisecond {
		t.Fatalf("cold spacing = %v, want [100ms]", got)
	}
}

func TestLimitAppPrecedence(t *testing.T) {
	named := qps("res", 1)
	named.LimitApp = "appA"
	other := qps("res", 2)
	other.LimitApp = base.LimitAppOther
	def := qps("res", 4)

	t.Run("specific origin reads its own node and is checked first", func(t *testing.T) {
		loose := qps("res", 1) // default rule that would also block the 2nd call
		h := newHarness(t, stat.NewManualClock(start), loose, named)
		h.pass("res", call{origin: "appA"})
		_, be := h.enter("res", call{origin: "appA"})
		if be == nil {
			t.Fatal("2nd call from appA passed")
		}
		if be.Rule.(flow.Rule).LimitApp != "appA" {
			t.Fatalf("blocked by %+v, want the appA rule (specific origins come first)", be.Rule)
		}
	})
	t.Run("other covers origins no rule names", func(t *testing.T) {
		h := newHarness(t, stat.NewManualClock(start), def, other, named)
		if got := h.passes("res", call{origin: "appB"}, 5); got != 2 {
			t.Fatalf("appB: %d passed, want 2 (other rule)", got)
		}
		// appC has its own origin node: another 2 by "other"; the default rule
		// sees the resource total (2+2) and allows nothing more.
		if got := h.passes("res", call{origin: "appC"}, 5); got != 2 {
			t.Fatalf("appC: %d passed, want 2", got)
		}
		if got := h.passes("res", call{}, 5); got != 0 {
			t.Fatalf("no origin: %d passed, want 0 (default rule, resource at 4)", got)
		}
	})
	t.Run("other does not cover a named origin", func(t *testing.T) {
		loose := named
		loose.Count = 10
		h := newHarness(t, stat.NewManualClock(start), other, loose)
		if got := h.passes("res", call{origin: "appA"}, 5); got != 5 {
			t.Fatalf("appA: %d passed, want 5 (only its own rule of 10 applies)", got)
		}
	})
	t.Run("other and named rules ignore calls without origin", func(t *testing.T) {
		h := newHarness(t, stat.NewManualClock(start), other, named)
		if got := h.passes("res", call{}, 5); got != 5 {
			t.Fatalf("no origin: %d passed, want 5", got)
		}
	})
	t.Run("default counts every caller together", func(t *testing.T) {
		h := newHarness(t, stat.NewManualClock(start), def)
		got := h.passes("res", call{origin: "x"}, 2) + h.passes("res", call{origin: "y"}, 2) + h.passes("res", call{}, 2)
		if got != 4 {
			t.Fatalf("%d passed, want 4", got)
		}
	})
}

func TestRelate(t *testing.T) {
	r := qps("read", 2)
	r.Strategy = flow.StrategyRelate
	r.RefResource = "write"
	h := newHarness(t, stat.NewManualClock(start), r)

	if got := h.passes("read", call{}, 10); got != 10 {
		t.Fatalf("read with idle write: %d of 10 passed", got)
	}
	h.passes("write", call{}, 2) // no rule on write itself
	if h.pass("read", call{}) {
		t.Fatal("read passed while write ran at the related limit")
	}
}

func TestChain(t *testing.T) {
	r := qps("res", 1)
	r.Strategy = flow.StrategyChain
	r.RefResource = "entA"
	h := newHarness(t, stat.NewManualClock(start), r)

	if got := h.passes("res", call{entrance: "entB"}, 5); got != 5 {
		t.Fatalf("through entB: %d passed, want 5", got)
	}
	if got := h.passes("res", call{}, 5); got != 5 {
		t.Fatalf("without entrance: %d passed, want 5", got)
	}
	if got := h.passes("res", call{entrance: "entA"}, 5); got != 1 {
		t.Fatalf("through entA: %d passed, want 1", got)
	}
}

func TestRegexResource(t *testing.T) {
	re := qps(`GET:/orders/\d+`, 1)
	re.Regex = true
	exact := qps("GET:/orders/7", 10)
	h := newHarness(t, stat.NewManualClock(start), re, exact)

	tests := []struct {
		res  string
		want int
	}{
		{"GET:/orders/1", 1},
		{"GET:/orders/2", 1}, // each matching resource has its own node
		{"GET:/orders/7", 1}, // exact rule plus the regex rule: the tighter wins
		{"GET:/orders/x", 5},
		{"xGET:/orders/1", 5}, // the whole name must match
		{"GET:/orders/1/items", 5},
	}
	for _, tc := range tests {
		for round := range 2 { // the second round is served from the match cache
			if round == 1 {
				h.clockAdvance(time.Second)
			}
			if got := h.passes(tc.res, call{}, 5); got != tc.want {
				t.Errorf("%s (round %d): %d passed, want %d", tc.res, round, got, tc.want)
			}
		}
	}
}

func (h *harness) clockAdvance(d time.Duration) { h.clock.(*stat.ManualClock).Advance(d) }

func TestReloadKeepsStateOfUnchangedRules(t *testing.T) {
	clock := &recordingClock{ManualClock: stat.NewManualClock(start)}
	paced := qps("res", 1) // one per second
	paced.ControlBehavior = base.BehaviorRateLimiter
	paced.MaxQueueingTimeMs = 500
	h := newHarness(t, clock, paced)
	if !h.pass("res", call{}) {
		t.Fatal("first call blocked")
	}

	same := paced
	same.ID = 42 // ids do not change a rule's meaning
	rep := h.m.Load([]flow.Rule{same})
	if rep.Kept != 1 || rep.Loaded != 1 {
		t.Fatalf("reload report = %+v, want 1 kept", rep)
	}
	if h.pass("res", call{}) {
		t.Fatal("unchanged rule forgot its last pass: call passed 0 ms after the previous one")
	}

	changed := paced
	changed.MaxQueueingTimeMs = 600
	rep = h.m.Load([]flow.Rule{changed})
	if rep.Kept != 0 {
		t.Fatalf("changed rule reported kept: %+v", rep)
	}
	if !h.pass("res", call{}) {
		t.Fatal("changed rule did not start fresh")
	}
	if got := h.m.Rules(); len(got) != 1 || got[0] != changed {
		t.Fatalf("Rules() = %+v", got)
	}
}

func TestReloadKeepsWarmUpTokens(t *testing.T) {
	clock := stat.NewManualClock(start)
	r := qps("res", 30)
	r.ControlBehavior = base.BehaviorWarmUp
	h := newHarness(t, clock, r)
	warm := perSecond(h, clock, "res", 20)
	if warm[19] != 30 {
		t.Fatalf("not warm after 20 s: %v", warm)
	}
	h.m.Load([]flow.Rule{r, qps("other", 1)})
	if got := perSecond(h, clock, "res", 1)[0]; got != 30 {
		t.Fatalf("after reloading the same rule: %d allowed, want 30 (still warm)", got)
	}
	r2 := r
	r2.WarmUpPeriodSec = 20
	h.m.Load([]flow.Rule{r2})
	if got := perSecond(h, clock, "res", 1)[0]; got != 10 {
		t.Fatalf("after changing the rule: %d allowed, want 10 (cold again)", got)
	}
}

func TestLoadReport(t *testing.T) {
	m := flow.NewManager(stat.NewManualClock(start), stat.NewRegistry(0))
	good := qps("a", 1)
	dupe := good
	dupe.ID = 9
	dupe.LimitApp = "" // blank limitApp means default
	badRegex := qps("(", 1)
	badRegex.Regex = true
	relate := qps("b", 1)
	relate.Strategy = flow.StrategyRelate
	rep := m.Load([]flow.Rule{good, qps("", 1), dupe, qps("c", -1), badRegex, relate})
	if rep.Loaded != 1 || rep.Duplicates != 1 {
		t.Fatalf("report = %+v, want 1 loaded, 1 duplicate", rep)
	}
	wantIdx := []int{1, 3, 4, 5}
	if len(rep.Rejected) != len(wantIdx) {
		t.Fatalf("rejected = %v, want indexes %v", rep.Rejected, wantIdx)
	}
	for i, rj := range rep.Rejected {
		if rj.Index != wantIdx[i] || rj.Reason == "" {
			t.Errorf("rejection %d = %+v, want index %d with a reason", i, rj, wantIdx[i])
		}
	}
	got := m.Rules()
	got[0].Count = 1000
	if m.Rules()[0].Count != 1 {
		t.Fatal("Rules() returned the manager's own slice")
	}
	if rep := m.Load(nil); rep.Loaded != 0 || len(m.Rules()) != 0 {
		t.Fatal("empty load did not clear the rules")
	}
}

func TestPrioritizedBorrowsNextBucket(t *testing.T) {
	clock := stat.NewManualClock(start)
	h := newHarness(t, clock, qps("res", 2))
	h.passes("res", call{}, 2) // both in the bucket [start, start+500)
	clock.Advance(600 * time.Millisecond)
	if h.pass("res", call{}) {
		t.Fatal("plain call passed over the limit")
	}
	c, be := h.enter("res", call{prioritized: true})
	if be != nil {
		t.Fatalf("prioritized call blocked: %v", be)
	}
	// It waited until the first bucket left the window and counts there.
	if c.NowMs != start+1000 {
		t.Fatalf("prioritized call passed at %d, want %d", c.NowMs, start+1000)
	}
}

func TestPrioritizedBorrowIsBounded(t *testing.T) {
	clock := &recordingClock{ManualClock: stat.NewManualClock(start)}
	h := newHarness(t, clock, qps("res", 2))
	h.passes("res", call{}, 2)
	clock.Advance(600 * time.Millisecond)
	// The first bucket frees 2 tokens: exactly two callers may borrow them. The
	// borrowers are still asleep (this clock does not move), so nothing is
	// counted as passed yet: only the promise to the next bucket bounds them.
	got := 0
	for range 5 {
		c := &kernel.Context{Resource: "res", Count: 1, Prioritized: true, NowMs: clock.NowMs(), Node: h.reg.GetOrCreate("res")}
		if h.m.Check(c) == nil {
			got++
		}
	}
	if got != 2 {
		t.Fatalf("%d prioritized calls borrowed, want 2", got)
	}
	for _, d := range clock.take() {
		if d != 400*time.Millisecond {
			t.Fatalf("borrower waited %v, want 400ms", d)
		}
	}
}

func TestClusterRuleWithoutFallbackPasses(t *testing.T) {
	r := qps("res", 0)
	r.ClusterMode = true
	r.ClusterConfig = flow.DefaultClusterConfig()
	r.ClusterConfig.FlowID = 1
	r.ClusterConfig.FallbackToLocalWhenFail = false
	h := newHarness(t, stat.NewManualClock(start), r)
	if !h.pass("res", call{}) {
		t.Fatal("cluster rule without fallback blocked locally")
	}
	r.ClusterConfig.FallbackToLocalWhenFail = true
	h.m.Load([]flow.Rule{r})
	if h.pass("res", call{}) {
		t.Fatal("cluster rule with local fallback passed over count 0")
	}
}

func TestConcurrentCheckAndLoad(t *testing.T) {
	clock := stat.NewManualClock(start)
	h := newHarness(t, clock, qps("res", 1e9))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := &kernel.Context{Resource: "res", Count: 1, Origin: "o", NowMs: clock.NowMs(), Node: h.reg.GetOrCreate("res")}
				if be := h.m.Check(c); be != nil && g == 0 {
					t.Errorf("blocked under count 1e9: %v", be)
					return
				}
			}
		}()
	}
	for i := range 200 {
		rs := []flow.Rule{qps("res", 1e9), qps("x", float64(i))}
		if i%2 == 0 {
			w := qps("res", 1e9)
			w.ControlBehavior = base.BehaviorWarmUp
			rs = append(rs, w)
		}
		h.m.Load(rs)
	}
	close(stop)
	wg.Wait()
}

func TestLoadRejectsNonFiniteCount(t *testing.T) {
	m := flow.NewManager(stat.NewManualClock(start), nil)
	for _, c := range []float64{math.NaN(), math.Inf(1)} {
		rep := m.Load([]flow.Rule{qps("res", c)})
		if rep.Loaded != 0 || len(rep.Rejected) != 1 || !strings.Contains(rep.Rejected[0].Reason, "finite") {
			t.Errorf("count %v: report %+v, want the rule rejected", c, rep)
		}
	}
}

func TestClusterRulesCheckedAfterLocalRules(t *testing.T) {
	cluster := qps("res", 1)
	cluster.ClusterMode = true
	cluster.ClusterConfig = flow.DefaultClusterConfig()
	cluster.ClusterConfig.FlowID = 7
	cluster.LimitApp = "appA" // would come first by limitApp alone
	local := qps("res", 1)
	h := newHarness(t, stat.NewManualClock(start), cluster, local)
	h.pass("res", call{origin: "appA"})
	_, be := h.enter("res", call{origin: "appA"})
	if be == nil {
		t.Fatal("second call passed two rules of count 1")
	}
	if be.Rule.(flow.Rule).ClusterMode {
		t.Fatal("the cluster rule was checked before the local one")
	}
}

func TestRateLimiterConcurrentCallersGetDistinctSlots(t *testing.T) {
	clock := &recordingClock{ManualClock: stat.NewManualClock(start)}
	r := qps("res", 100) // 10 ms apart
	r.ControlBehavior = base.BehaviorRateLimiter
	r.MaxQueueingTimeMs = 1000
	h := newHarness(t, clock, r)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				c := &kernel.Context{Resource: "res", Count: 1, NowMs: clock.NowMs(), Node: h.reg.GetOrCreate("res")}
				h.m.Check(c)
			}
		}()
	}
	wg.Wait()
	// 80 callers at one instant: one passes at once, 100 queue slots of 10 ms
	// fit in 1000 ms, so every other caller got its own slot.
	seen := map[time.Duration]bool{}
	for _, d := range clock.take() {
		if d%(10*time.Millisecond) != 0 || seen[d] {
			t.Fatalf("wait %v is not a distinct multiple of 10ms", d)
		}
		seen[d] = true
	}
	if len(seen) != 79 {
		t.Fatalf("%d callers queued, want 79", len(seen))
	}
}
