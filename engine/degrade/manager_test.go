package degrade

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

var errBiz = errors.New("business failure")

type harness struct {
	t   *testing.T
	clk *stat.ManualClock
	m   *Manager
}

func newHarness(t *testing.T, rules ...Rule) *harness {
	t.Helper()
	clk := stat.NewManualClock(1_000_000)
	m := NewManager(clk)
	if rep := m.Load(rules); len(rep.Rejected) != 0 || rep.Loaded != len(rules) {
		t.Fatalf("Load: %+v", rep)
	}
	return &harness{t: t, clk: clk, m: m}
}

// enter runs Check at the current time; nil means blocked.
func (h *harness) enter(res string) *kernel.Context {
	c := &kernel.Context{Resource: res, NowMs: h.clk.NowMs(), Count: 1}
	if be := h.m.Check(c); be != nil {
		return nil
	}
	return c
}

// exit completes c at the current time, as if it had started rtMs earlier
// (Exit dates the completion NowMs + RTMs).
func (h *harness) exit(c *kernel.Context, rtMs int64, err error) {
	c.NowMs, c.RTMs, c.Err = h.clk.NowMs()-rtMs, rtMs, err
	h.m.Exit(c)
}

// call makes one complete call; it reports whether the call passed.
func (h *harness) call(res string, rtMs int64, err error) bool {
	c := h.enter(res)
	if c == nil {
		return false
	}
	h.exit(c, rtMs, err)
	return true
}

func (h *harness) state(r Rule) State {
	h.t.Helper()
	st, ok := h.m.BreakerState(r)
	if !ok {
		h.t.Fatalf("no breaker for %+v", r)
	}
	return st
}

func rule(g Grade, count float64, mutate ...func(*Rule)) Rule {
	r := DefaultRule()
	r.Resource, r.Grade, r.Count, r.TimeWindow = "res", g, count, 10
	for _, f := range mutate {
		f(&r)
	}
	return r
}

// step is one completed call: response time and error, and the breaker state
// expected right after it.
type step struct {
	rt   int64
	err  error
	want State
}

const (
	C = StateClosed
	O = StateOpen
)

func fast(want State) step    { return step{rt: 100, want: want} } // RT == count is not slow
func slow(want State) step    { return step{rt: 101, want: want} }
func ok(want State) step      { return step{rt: 1, want: want} }
func failing(want State) step { return step{rt: 1, err: errBiz, want: want} }

func TestBreakerTripsExactlyAtThreshold(t *testing.T) {
	tests := []struct {
		name  string
		rule  Rule
		steps []step
	}{
		{"slow ratio above threshold trips", rule(GradeRT, 100, func(r *Rule) { r.SlowRatioThreshold = 0.5 }),
			[]step{fast(C), fast(C), slow(C), slow(C), slow(O)}}, // 3/5 = 0.6 > 0.5
		{"slow ratio equal to threshold does not trip", rule(GradeRT, 100, func(r *Rule) { r.SlowRatioThreshold = 0.5 }),
			[]step{fast(C), fast(C), fast(C), slow(C), slow(C), slow(C), slow(O)}}, // 3/6 = 0.5 stays, 4/7 trips
		{"slow ratio waits for minRequestAmount", rule(GradeRT, 100, func(r *Rule) { r.SlowRatioThreshold = 0.5 }),
			[]step{slow(C), slow(C), slow(C), slow(C), slow(O)}},
		{"slow ratio honours a larger minRequestAmount", rule(GradeRT, 100, func(r *Rule) { r.SlowRatioThreshold = 0.5; r.MinRequestAmount = 7 }),
			[]step{slow(C), slow(C), slow(C), slow(C), slow(C), slow(C), slow(O)}},
		{"slow ratio 1.0 trips when every call is slow", rule(GradeRT, 100),
			[]step{slow(C), slow(C), slow(C), slow(C), slow(O)}},
		{"slow ratio 1.0 does not trip with one fast call", rule(GradeRT, 100),
			[]step{fast(C), slow(C), slow(C), slow(C), slow(C), slow(C), slow(C)}},
		{"slow ratio 0 trips on the first slow call past minRequestAmount", rule(GradeRT, 100, func(r *Rule) { r.SlowRatioThreshold = 0 }),
			[]step{fast(C), fast(C), fast(C), fast(C), fast(C), slow(O)}},
		{"errors do not make calls slow", rule(GradeRT, 100),
			[]step{failing(C), failing(C), failing(C), failing(C), failing(C), failing(C)}},
		{"error ratio above count trips", rule(GradeExceptionRatio, 0.5),
			[]step{ok(C), ok(C), failing(C), failing(C), failing(O)}},
		{"error ratio equal to count does not trip", rule(GradeExceptionRatio, 0.5),
			[]step{ok(C), ok(C), ok(C), failing(C), failing(C), failing(C), failing(O)}},
		{"error ratio waits for minRequestAmount", rule(GradeExceptionRatio, 0.1, func(r *Rule) { r.MinRequestAmount = 3 }),
			[]step{failing(C), failing(C), failing(O)}},
		{"slow calls are not errors", rule(GradeExceptionRatio, 0.1),
			[]step{slow(C), slow(C), slow(C), slow(C), slow(C), slow(C)}},
		{"error count above count trips", rule(GradeExceptionCount, 3, func(r *Rule) { r.MinRequestAmount = 1 }),
			[]step{failing(C), failing(C), ok(C), failing(C), ok(C), failing(O)}},
		{"error count waits for minRequestAmount", rule(GradeExceptionCount, 2),
			[]step{failing(C), failing(C), failing(C), failing(C), ok(O)}}, // 4 errors > 2 once 5 calls are in
		{"block errors from further down do not count", rule(GradeExceptionCount, 0, func(r *Rule) { r.MinRequestAmount = 1 }),
			[]step{{rt: 1, err: fmt.Errorf("downstream: %w", &base.BlockError{Family: base.FamilyFlow}), want: C}, failing(O)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.rule)
			for i, s := range tt.steps {
				if !h.call("res", s.rt, s.err) {
					t.Fatalf("call %d blocked", i)
				}
				if got := h.state(tt.rule); got != s.want {
					t.Fatalf("after call %d (rt %d, err %v): state %v, want %v", i, s.rt, s.err, got, s.want)
				}
			}
		})
	}
}

func TestBreakerCountsOnlyItsStatInterval(t *testing.T) {
	r := rule(GradeExceptionCount, 2, func(r *Rule) { r.MinRequestAmount = 1; r.StatIntervalMs = 2000 })
	for _, tt := range []struct {
		name    string
		advance time.Duration // between the first two errors and the third
		want    State
	}{
		{"last millisecond of the interval", 1999 * time.Millisecond, StateOpen},
		{"next interval", 2000 * time.Millisecond, StateClosed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, r)
			h.clk.Set(1_000_000) // a multiple of 2000: the start of an interval
			h.call("res", 1, errBiz)
			h.call("res", 1, errBiz)
			h.clk.Advance(tt.advance)
			h.call("res", 1, errBiz)
			if got := h.state(r); got != tt.want {
				t.Fatalf("state %v, want %v", got, tt.want)
			}
		})
	}
}

// tripped returns a harness whose breaker has just opened.
func tripped(t *testing.T, r Rule) *harness {
	t.Helper()
	h := newHarness(t, r)
	for range r.MinRequestAmount {
		h.call("res", 1000, errBiz)
	}
	if got := h.state(r); got != StateOpen {
		t.Fatalf("breaker did not trip: %v", got)
	}
	return h
}

func TestOpenHalfOpenProbe(t *testing.T) {
	for _, g := range []Grade{GradeRT, GradeExceptionRatio, GradeExceptionCount} {
		r := rule(g, 0.5, func(r *Rule) { r.TimeWindow = 3; r.SlowRatioThreshold = 0.5; r.StatIntervalMs = 60_000 })
		t.Run(g.String(), func(t *testing.T) {
			badRT, badErr := int64(1), errBiz
			if g == GradeRT {
				badRT, badErr = 1000, nil
			}
			h := tripped(t, r)

			h.clk.Advance(2999 * time.Millisecond)
			if h.enter("res") != nil {
				t.Fatal("passed before the time window ended")
			}
			h.clk.Advance(time.Millisecond)
			probe := h.enter("res")
			if probe == nil {
				t.Fatal("no probe after the time window")
			}
			if got := h.state(r); got != StateHalfOpen {
				t.Fatalf("state with probe in flight: %v", got)
			}
			if h.enter("res") != nil {
				t.Fatal("a second call passed while the probe is in flight")
			}
			// A failing probe re-opens for another full window.
			h.exit(probe, badRT, badErr)
			if got := h.state(r); got != StateOpen {
				t.Fatalf("after failed probe: %v, want OPEN", got)
			}
			h.clk.Advance(2999 * time.Millisecond)
			if h.enter("res") != nil {
				t.Fatal("passed before the second time window ended")
			}
			h.clk.Advance(time.Millisecond)
			probe = h.enter("res")
			if probe == nil {
				t.Fatal("no second probe")
			}
			h.exit(probe, 0, nil)
			if got := h.state(r); got != StateClosed {
				t.Fatalf("after good probe: %v, want CLOSED", got)
			}
			// Closing starts counting afresh: one more bad call does not re-trip.
			h.call("res", badRT, badErr)
			if got := h.state(r); got != StateClosed {
				t.Fatalf("old counters survived closing: %v", got)
			}
		})
	}
}

func TestOnlyTheProbeDecidesHalfOpen(t *testing.T) {
	r := rule(GradeRT, 100, func(r *Rule) { r.TimeWindow = 1 })
	h := newHarness(t, r)
	early := h.enter("res") // admitted while CLOSED, completes late
	for range 5 {
		h.call("res", 500, nil)
	}
	h.clk.Advance(time.Second)
	probe := h.enter("res")
	if probe == nil {
		t.Fatal("no probe")
	}
	h.exit(early, 1, nil) // fast, but not the probe
	if got := h.state(r); got != StateHalfOpen {
		t.Fatalf("a non-probe completion moved the breaker: %v", got)
	}
	h.exit(probe, 500, nil)
	if got := h.state(r); got != StateOpen {
		t.Fatalf("slow probe: %v, want OPEN", got)
	}
}

func TestProbeReleasedWhenAnotherBreakerBlocks(t *testing.T) {
	short := rule(GradeExceptionCount, 0, func(r *Rule) { r.TimeWindow = 1; r.MinRequestAmount = 1 })
	long := rule(GradeExceptionCount, 0, func(r *Rule) { r.TimeWindow = 5; r.MinRequestAmount = 1 })
	h := newHarness(t, short, long)
	h.call("res", 1, errBiz)
	if h.state(short) != StateOpen || h.state(long) != StateOpen {
		t.Fatal("both breakers should be open")
	}
	h.clk.Advance(time.Second)
	var changes []StateChange
	h.m.AddStateListener(func(sc StateChange) { changes = append(changes, sc) })
	if h.enter("res") != nil {
		t.Fatal("passed while the long breaker is open")
	}
	if got := h.state(short); got != StateOpen {
		t.Fatalf("short breaker left %v after its probe was blocked by the other breaker", got)
	}
	want := []State{StateOpen, StateHalfOpen, StateHalfOpen, StateOpen}
	if len(changes) != 2 || changes[0].Prev != want[0] || changes[0].Next != want[1] || changes[1].Prev != want[2] || changes[1].Next != want[3] {
		t.Fatalf("changes %+v", changes)
	}
	h.clk.Advance(4 * time.Second)
	c := h.enter("res")
	if c == nil {
		t.Fatal("no probe once both windows ended")
	}
	h.exit(c, 1, nil)
	if h.state(short) != StateClosed || h.state(long) != StateClosed {
		t.Fatalf("probe did not close both: %v %v", h.state(short), h.state(long))
	}
}

func TestStateListener(t *testing.T) {
	r := rule(GradeExceptionRatio, 0.5, func(r *Rule) { r.TimeWindow = 1; r.ID = 7 })
	h := newHarness(t, r)
	var got []StateChange
	remove := h.m.AddStateListener(func(sc StateChange) { got = append(got, sc) })
	var other int
	h.m.AddStateListener(func(StateChange) { other++ })
	h.call("res", 1, nil)
	h.call("res", 1, nil)
	for range 3 {
		h.call("res", 1, errBiz) // 3/5 = 0.6
	}
	h.clk.Advance(time.Second)
	h.call("res", 1, nil)
	want := []StateChange{
		{Rule: r, Prev: StateClosed, Next: StateOpen, Value: 0.6},
		{Rule: r, Prev: StateOpen, Next: StateHalfOpen},
		{Rule: r, Prev: StateHalfOpen, Next: StateClosed},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes\n got %+v\nwant %+v", got, want)
	}
	remove()
	for range 5 {
		h.call("res", 1, errBiz)
	}
	if len(got) != 3 {
		t.Fatalf("removed listener still called: %+v", got[3:])
	}
	if other != 4 {
		t.Fatalf("remaining listener called %d times, want 4", other)
	}
}

func TestReloadKeepsEqualBreakers(t *testing.T) {
	r := rule(GradeExceptionCount, 0, func(r *Rule) { r.MinRequestAmount = 1; r.TimeWindow = 10; r.ID = 1 })
	h := tripped(t, r)
	var changes []StateChange
	h.m.AddStateListener(func(sc StateChange) { changes = append(changes, sc) })

	same := r
	same.ID = 2
	same.LimitApp = "" // normalizes to "default": still equal
	rep := h.m.Load([]Rule{same})
	if rep.Kept != 1 || rep.Loaded != 1 {
		t.Fatalf("reload report %+v", rep)
	}
	if got := h.state(r); got != StateOpen {
		t.Fatalf("unchanged rule lost its open breaker: %v", got)
	}
	if c := h.m.Check(&kernel.Context{Resource: "res", NowMs: h.clk.NowMs()}); c == nil || c.Rule.(Rule).ID != 2 {
		t.Fatalf("block error should name the reloaded rule (id 2): %+v", c)
	}
	if len(changes) != 0 {
		t.Fatalf("unchanged reload notified: %+v", changes)
	}

	changed := same
	changed.TimeWindow = 20
	rep = h.m.Load([]Rule{changed})
	if rep.Kept != 0 {
		t.Fatalf("changed rule kept state: %+v", rep)
	}
	if got := h.state(changed); got != StateClosed {
		t.Fatalf("changed rule starts %v, want CLOSED", got)
	}
	if !h.call("res", 1, nil) {
		t.Fatal("changed rule still blocks")
	}
	want := StateChange{Rule: same, Prev: StateOpen, Next: StateClosed, Removed: true}
	if len(changes) != 1 || changes[0] != want {
		t.Fatalf("removal notification %+v, want %+v", changes, want)
	}

	// Clearing removes the breaker; an open one is reported.
	h.call("res", 1, errBiz)
	h.m.Load(nil)
	if len(changes) != 3 || !changes[2].Removed || changes[2].Rule != changed {
		t.Fatalf("clear notifications %+v", changes)
	}
	if !h.call("res", 1, errBiz) || len(h.m.Rules()) != 0 {
		t.Fatal("cleared manager still limits")
	}
}

func TestReloadKeepsCounters(t *testing.T) {
	r := rule(GradeExceptionCount, 2, func(r *Rule) { r.MinRequestAmount = 1 })
	h := newHarness(t, r)
	h.call("res", 1, errBiz)
	h.call("res", 1, errBiz)
	h.m.Load([]Rule{r, rule(GradeRT, 10, func(r *Rule) { r.Resource = "other" })})
	h.call("res", 1, errBiz)
	if got := h.state(r); got != StateOpen {
		t.Fatalf("counters were reset by an unrelated reload: %v", got)
	}
}

func TestBlockErrorAndRegex(t *testing.T) {
	r := rule(GradeExceptionCount, 0, func(r *Rule) { r.Resource = "^GET:/a/.*"; r.Regex = true; r.MinRequestAmount = 1 })
	h := newHarness(t, r)
	h.call("GET:/a/1", 1, errBiz) // the regex rule has one breaker for every matching resource
	c := &kernel.Context{Resource: "GET:/a/2", NowMs: h.clk.NowMs()}
	be := h.m.Check(c)
	if be == nil {
		t.Fatal("breaker shared by the regex rule did not block a matching resource")
	}
	if be.Family != base.FamilyDegrade || be.Resource != "GET:/a/2" || be.Rule.(Rule) != r ||
		!strings.Contains(be.Reason, "error-count") || !strings.Contains(be.Reason, "open") || !errors.Is(be, base.ErrBlocked) {
		t.Fatalf("block error %+v", be)
	}
	if !h.call("GET:/b/1", 1, nil) {
		t.Fatal("non-matching resource blocked")
	}
}

func TestLoadRejectsAndCollapses(t *testing.T) {
	good := rule(GradeRT, 10)
	bad := func(f func(*Rule)) Rule { r := good; f(&r); return r }
	m := NewManager(stat.NewManualClock(0))
	dup := good
	dup.ID = 99
	rep := m.Load([]Rule{
		good,
		bad(func(r *Rule) { r.TimeWindow = 0 }),
		dup,
		bad(func(r *Rule) { r.Grade = 3 }),
		bad(func(r *Rule) { r.Grade = GradeExceptionRatio; r.Count = 1.5 }),
		bad(func(r *Rule) { r.StatIntervalMs = 0 }),
		bad(func(r *Rule) { r.Resource = "["; r.Regex = true }),
	})
	if rep.Loaded != 1 || rep.Duplicates != 1 || len(rep.Rejected) != 5 {
		t.Fatalf("report %+v", rep)
	}
	for i, want := range []struct {
		idx  int
		word string
	}{{1, "timeWindow"}, {3, "grade"}, {4, "count"}, {5, "statIntervalMs"}, {6, "regular expression"}} {
		if rj := rep.Rejected[i]; rj.Index != want.idx || !strings.Contains(rj.Reason, want.word) {
			t.Errorf("rejection %d = %+v, want index %d naming %s", i, rj, want.idx, want.word)
		}
	}
	if got := m.Rules(); len(got) != 1 || got[0] != good {
		t.Fatalf("Rules() = %+v", got)
	}
}

func TestCheckExitConcurrentWithLoad(t *testing.T) {
	clk := stat.NewManualClock(0)
	m := NewManager(clk)
	m.AddStateListener(func(StateChange) {})
	sets := [][]Rule{
		{rule(GradeExceptionCount, 0, func(r *Rule) { r.MinRequestAmount = 1; r.TimeWindow = 1 })},
		{rule(GradeRT, 5, func(r *Rule) { r.MinRequestAmount = 1; r.TimeWindow = 1 }), rule(GradeExceptionRatio, 0.1, func(r *Rule) { r.Resource = "re.*"; r.Regex = true })},
		nil,
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := &kernel.Context{Resource: "res", NowMs: clk.NowMs()}
				if m.Check(c) == nil {
					c.RTMs = int64(i % 10)
					if (i+g)%3 == 0 {
						c.Err = errBiz
					}
					m.Exit(c)
				}
				clk.Advance(time.Millisecond)
			}
		}()
	}
	for i := range 300 {
		m.Load(sets[i%len(sets)])
	}
	close(stop)
	wg.Wait()
}

func TestCheckExitPassDoesNotAllocate(t *testing.T) {
	h := newHarness(t, rule(GradeRT, 100), rule(GradeExceptionRatio, 0.5))
	c := &kernel.Context{Resource: "res", NowMs: h.clk.NowMs()}
	h.call("res", 1, nil) // create the window bucket for this interval
	if n := testing.AllocsPerRun(200, func() {
		if h.m.Check(c) != nil {
			t.Fatal("blocked")
		}
		c.RTMs = 1
		h.m.Exit(c)
	}); n != 0 {
		t.Fatalf("Check+Exit allocates %v times per call", n)
	}
}

func BenchmarkCheckExitPass(b *testing.B) {
	m := NewManager(stat.SystemClock{})
	m.Load([]Rule{rule(GradeRT, 100)})
	// The engine reads the clock once per call and hands the reading over in
	// the Context; the benchmark measures the family alone.
	c := &kernel.Context{Resource: "res", RTMs: 1, NowMs: stat.SystemClock{}.NowMs() + 1}
	b.ReportAllocs()
	for b.Loop() {
		if m.Check(c) != nil {
			b.Fatal("blocked")
		}
		m.Exit(c)
	}
}

func BenchmarkCheckExitPassParallel(b *testing.B) {
	m := NewManager(stat.SystemClock{})
	m.Load([]Rule{rule(GradeExceptionRatio, 0.5)})
	now := stat.SystemClock{}.NowMs() + 1
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := &kernel.Context{Resource: "res", RTMs: 1, NowMs: now}
		for pb.Next() {
			if m.Check(c) != nil {
				b.Fatal("blocked")
			}
			m.Exit(c)
		}
	})
}

func BenchmarkLoad10000(b *testing.B) {
	rules := make([]Rule, 10000)
	for i := range rules {
		rules[i] = rule(Grade(i%3), 0.5, func(r *Rule) { r.Resource = fmt.Sprintf("res-%d", i) })
	}
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewManager(stat.SystemClock{}).Load(rules)
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		m := NewManager(stat.SystemClock{})
		m.Load(rules)
		b.ReportAllocs()
		for b.Loop() {
			m.Load(rules)
		}
	})
}

func TestExitDatesCompletionByResponseTime(t *testing.T) {
	r := rule(GradeExceptionCount, 2, func(r *Rule) { r.MinRequestAmount = 1 })
	h := newHarness(t, r)
	h.clk.Set(2_000_000) // start of a stat interval
	h.call("res", 0, errBiz)
	h.call("res", 0, errBiz)
	long := h.enter("res")
	long.RTMs, long.Err = 1000, errBiz // completes in the next interval
	h.m.Exit(long)
	if got := h.state(r); got != StateClosed {
		t.Fatalf("a completion 1000 ms later counted in the entry's interval: %v", got)
	}
	h.clk.Advance(time.Second)
	h.call("res", 0, errBiz)
	h.call("res", 0, errBiz)
	if got := h.state(r); got != StateOpen {
		t.Fatalf("the late completion was not counted in its own interval: %v", got)
	}
}

func TestProbeReleasedByExitHookWhenBlockedLater(t *testing.T) {
	r := rule(GradeExceptionCount, 0, func(r *Rule) { r.MinRequestAmount = 1; r.TimeWindow = 1 })
	h := newHarness(t, r)
	h.call("res", 1, errBiz)
	h.clk.Advance(time.Second)
	probe := h.enter("res")
	if probe == nil || h.state(r) != StateHalfOpen {
		t.Fatal("no probe")
	}
	// A check after degrade rejects the call: the engine records the block
	// and runs the exit hooks instead of Exit.
	probe.Blocked = &base.BlockError{Family: base.FamilyFlow}
	probe.RunExits()
	if got := h.state(r); got != StateOpen {
		t.Fatalf("state %v after the probe was blocked later, want OPEN", got)
	}
	if h.enter("res") == nil {
		t.Fatal("the next call should probe again at once")
	}
}

func TestExitHookLeavesPassedProbeToExit(t *testing.T) {
	r := rule(GradeExceptionCount, 0, func(r *Rule) { r.MinRequestAmount = 1; r.TimeWindow = 1 })
	h := newHarness(t, r)
	h.call("res", 1, errBiz)
	h.clk.Advance(time.Second)
	probe := h.enter("res")
	probe.RunExits() // the engine may run hooks before or after Exit
	if got := h.state(r); got != StateHalfOpen {
		t.Fatalf("hook of a passed probe changed the state: %v", got)
	}
	h.exit(probe, 1, nil)
	if got := h.state(r); got != StateClosed {
		t.Fatalf("state %v, want CLOSED", got)
	}
}

func TestRetryAtSaturates(t *testing.T) {
	for _, tt := range []struct {
		now  int64
		win  int
		want int64
	}{
		{1000, 10, 11_000},
		{1000, math.MaxInt, math.MaxInt64},
		{math.MaxInt64 - 5, 1, math.MaxInt64},
	} {
		if got := retryAt(tt.now, tt.win); got != tt.want {
			t.Errorf("retryAt(%d, %d) = %d, want %d", tt.now, tt.win, got, tt.want)
		}
	}
}

// TestLostProbeIsReplaced checks that a probe whose Exit never comes does not
// hold the breaker half-open forever: after one more time window the next
// call becomes the probe, and only its completion decides; the lost probe's
// late completion no longer does.
func TestLostProbeIsReplaced(t *testing.T) {
	r := rule(GradeExceptionCount, 1, func(r *Rule) { r.TimeWindow = 2; r.StatIntervalMs = 60_000 })
	h := tripped(t, r)
	h.clk.Advance(2 * time.Second)
	lost := h.enter("res")
	if lost == nil {
		t.Fatal("no probe after the time window")
	}
	h.clk.Advance(1999 * time.Millisecond)
	if h.enter("res") != nil {
		t.Fatal("a second probe passed before the first one's time window ended")
	}
	h.clk.Advance(time.Millisecond)
	probe := h.enter("res")
	if probe == nil {
		t.Fatal("the breaker stayed half-open behind a lost probe")
	}
	if got := h.state(r); got != StateHalfOpen {
		t.Fatalf("state with the new probe in flight: %v", got)
	}
	if h.enter("res") != nil {
		t.Fatal("a third call passed while the new probe is in flight")
	}
	h.exit(lost, 0, errBiz) // late, failed: must not decide any more
	if got := h.state(r); got != StateHalfOpen {
		t.Fatalf("the lost probe's late completion moved the breaker: %v", got)
	}
	h.exit(probe, 0, nil)
	if got := h.state(r); got != StateClosed {
		t.Fatalf("after the new probe succeeded: %v, want CLOSED", got)
	}
}
