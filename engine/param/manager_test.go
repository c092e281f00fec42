package param

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

const res = "GET:/orders"

func quiet() Option { return WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func newTestManager(t *testing.T, opts ...Option) (*Manager, *stat.ManualClock) {
	t.Helper()
	clock := stat.NewManualClock(1_000_000)
	return NewManager(clock, append([]Option{quiet()}, opts...)...), clock
}

func qpsRule(count float64) Rule {
	r := DefaultRule()
	r.Resource = res
	r.Count = count
	return r
}

func call(args ...any) *kernel.Context {
	return &kernel.Context{Resource: res, Args: args, Count: 1}
}

func mustLoad(t *testing.T, m *Manager, rules ...Rule) base.LoadReport {
	t.Helper()
	rep := m.Load(rules)
	if len(rep.Rejected) > 0 {
		t.Fatalf("Load rejected %v", rep.Rejected)
	}
	return rep
}

// passes counts how many of n calls with args pass (thread slots are not given back).
func passes(m *Manager, n int, args ...any) int {
	ok := 0
	for range n {
		if m.Check(call(args...)) == nil {
			ok++
		}
	}
	return ok
}

func TestPerValueIsolation(t *testing.T) {
	m, _ := newTestManager(t)
	mustLoad(t, m, qpsRule(2))
	if got := passes(m, 5, "userA"); got != 2 {
		t.Fatalf("userA: %d of 5 passed, want 2", got)
	}
	if got := passes(m, 5, "userB"); got != 2 {
		t.Fatalf("userB after userA was exhausted: %d of 5 passed, want 2", got)
	}
	be := m.Check(call("userA"))
	if be == nil {
		t.Fatal("userA passed after exhaustion")
	}
	if !errors.Is(be, base.ErrBlocked) || be.Family != base.FamilyParam || be.Resource != res || be.Value != "userA" {
		t.Fatalf("block error = %+v", be)
	}
	if r, ok := be.Rule.(Rule); !ok || r.Count != 2 {
		t.Fatalf("block error names rule %#v", be.Rule)
	}
}

func TestBucketRefill(t *testing.T) {
	tests := []struct {
		name      string
		count     float64
		burst     int
		duration  int64
		advanceMs int64
		wantFirst int // passes on a fresh value
		wantAfter int // passes after advanceMs, once exhausted
	}{
		{"count only", 3, 0, 1, 1001, 3, 3},
		{"burst adds to the bucket, not to the refill", 2, 3, 1, 1001, 5, 2},
		{"refill after two refill periods fills the bucket", 2, 3, 1, 2001, 5, 4},
		{"long idle caps at count+burst", 2, 3, 1, 60_000, 5, 5},
		{"no refill before a whole duration", 4, 0, 2, 1500, 4, 0},
		{"no refill at exactly the duration", 4, 0, 2, 2000, 4, 0},
		{"refill just after the duration", 4, 0, 2, 2001, 4, 4},
		{"refill is proportional to elapsed time", 4, 4, 2, 3000, 8, 6},
		{"fractional count truncates", 2.9, 0, 1, 1001, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clock := newTestManager(t)
			r := qpsRule(tt.count)
			r.BurstCount = tt.burst
			r.DurationInSec = tt.duration
			mustLoad(t, m, r)
			if got := passes(m, 20, 42); got != tt.wantFirst {
				t.Fatalf("fresh value: %d passed, want %d", got, tt.wantFirst)
			}
			clock.Advance(time.Duration(tt.advanceMs) * time.Millisecond)
			if got := passes(m, 20, 42); got != tt.wantAfter {
				t.Fatalf("after %d ms: %d passed, want %d", tt.advanceMs, got, tt.wantAfter)
			}
		})
	}
}

func TestAcquireCount(t *testing.T) {
	m, _ := newTestManager(t)
	r := qpsRule(3)
	r.BurstCount = 1
	mustLoad(t, m, r)
	c := call(1)
	c.Count = 5
	if be := m.Check(c); be == nil {
		t.Fatal("asking 5 tokens of a 4-token bucket passed")
	}
	c.Count = 3
	if be := m.Check(c); be != nil {
		t.Fatalf("3 of 4 tokens blocked: %v", be)
	}
	c.Count = 2
	if be := m.Check(c); be == nil {
		t.Fatal("2 tokens passed with 1 left")
	}
	c.Count = 1
	if be := m.Check(c); be != nil {
		t.Fatalf("last token blocked: %v", be)
	}
}

func TestZeroCount(t *testing.T) {
	m, _ := newTestManager(t)
	r := qpsRule(0)
	r.ParamFlowItemList = []Item{{Object: "vip", ClassType: "String", Count: 2}}
	mustLoad(t, m, r)
	if got := passes(m, 3, "anyone"); got != 0 {
		t.Fatalf("count 0: %d passed, want 0", got)
	}
	if got := passes(m, 3, "vip"); got != 2 {
		t.Fatalf("vip item with count 2 under a count-0 rule: %d passed, want 2", got)
	}
}

func TestExceptionItems(t *testing.T) {
	items := []Item{
		{Object: "7", ClassType: "int", Count: 1},
		{Object: "8", ClassType: "java.lang.Integer", Count: 2},
		{Object: "5000000000", ClassType: "long", Count: 1},
		{Object: "5000000000", ClassType: "int", Count: 9}, // does not fit an int: dropped
		{Object: "abc", ClassType: "int", Count: 1},        // not a number: dropped
		{Object: "vip", ClassType: "String", Count: 5},
		{Object: "9", ClassType: "", Count: 3}, // a string "9", not the number 9
		{Object: "2.5", ClassType: "double", Count: 1},
		{Object: "3.0", ClassType: "float", Count: 2}, // integral: the number 3
		{Object: "true", ClassType: "boolean", Count: 1},
		{Object: "a", ClassType: "char", Count: 2},
		{Object: "ab", ClassType: "char", Count: 1},     // two characters: dropped
		{Object: "neg", ClassType: "String", Count: -1}, // negative count: dropped
	}
	tests := []struct {
		name string
		arg  any
		want int // passes of 20 with rule count 10
	}{
		{"int item, int arg", 7, 1},
		{"int item, int64 arg", int64(7), 1},
		{"int item, uint8 arg", uint8(7), 1},
		{"int item, float64 arg with integral value", float64(7), 1},
		{"int item, named int type", userID(7), 1},
		{"boxed Integer name", 8, 2},
		{"long item", int64(5_000_000_000), 1},
		{"int item out of range dropped", "5000000000", 10},
		{"string item", "vip", 5},
		{"named string type", label("vip"), 5},
		{"[]byte as string", []byte("vip"), 5},
		{"string item does not match a number", 9, 10},
		{"string item matches the string", "9", 3},
		{"int item does not match a string", "7", 10},
		{"double item", 2.5, 1},
		{"double item, float32 arg", float32(2.5), 1},
		{"float item with integral value matches int", 3, 2},
		{"boolean item", true, 1},
		{"other boolean", false, 10},
		{"char item matches rune", 'a', 2},
		{"char item does not match string", "a", 10},
		{"bad int item dropped", "abc", 10},
		{"two-char item dropped", "ab", 10},
		{"negative-count item dropped", "neg", 10},
		{"value without item", 100, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestManager(t)
			r := qpsRule(10)
			r.ParamFlowItemList = items
			mustLoad(t, m, r)
			if got := passes(m, 20, tt.arg); got != tt.want {
				t.Fatalf("%#v: %d of 20 passed, want %d", tt.arg, got, tt.want)
			}
		})
	}
}

type userID int64
type label string

func TestValidItems(t *testing.T) {
	r := qpsRule(1)
	r.ParamFlowItemList = []Item{
		{Object: "1", ClassType: "int", Count: 1},
		{Object: "x", ClassType: "long", Count: 1},
		{Object: "128", ClassType: "byte", Count: 1},
		{Object: "maybe", ClassType: "boolean", Count: 1},
		{Object: "s", ClassType: "java.lang.String", Count: 1},
	}
	valid, dropped := r.ValidItems()
	if len(valid) != 2 || valid[0].Object != "1" || valid[1].Object != "s" {
		t.Fatalf("valid = %+v", valid)
	}
	if len(dropped) != 3 {
		t.Fatalf("dropped = %v", dropped)
	}
	for i, want := range []string{"paramFlowItemList[1]", "paramFlowItemList[2]", "paramFlowItemList[3]"} {
		if !errors.Is(dropped[i], ErrInvalidRule) || !strings.Contains(dropped[i].Error(), want) {
			t.Errorf("dropped[%d] = %v, want it to name %s", i, dropped[i], want)
		}
	}
}

func TestDroppedItemIsLogged(t *testing.T) {
	var buf strings.Builder
	m := NewManager(stat.NewManualClock(0), WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	r := qpsRule(1)
	r.ParamFlowItemList = []Item{{Object: "x", ClassType: "int", Count: 1}}
	rep := mustLoad(t, m, r)
	if rep.Loaded != 1 {
		t.Fatalf("rule with a bad item not loaded: %+v", rep)
	}
	if !strings.Contains(buf.String(), "paramFlowItemList[0]") || !strings.Contains(buf.String(), res) {
		t.Fatalf("log does not name the item and resource: %q", buf.String())
	}
}

func TestParamIdx(t *testing.T) {
	tests := []struct {
		name string
		idx  int
		args []any
		want int // passes of 3 with count 1
	}{
		{"first", 0, []any{"a", "b"}, 1},
		{"last by -1", -1, []any{"a", "b"}, 1},
		{"-2 is the first of two", -2, []any{"a", "b"}, 1},
		{"-3 of two args does not apply", -3, []any{"a", "b"}, 3},
		{"past the end does not apply", 2, []any{"a", "b"}, 3},
		{"nil arg does not apply", 1, []any{"a", nil}, 3},
		{"no args", 0, nil, 3},
		{"map arg cannot be compared", 0, []any{map[string]int{}}, 3},
		{"struct holding a slice cannot be compared", 0, []any{holder{v: []int{1}}}, 3},
		{"comparable struct is a value", 0, []any{holder{v: 1}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestManager(t)
			r := qpsRule(1)
			r.ParamIdx = tt.idx
			mustLoad(t, m, r)
			if got := passes(m, 3, tt.args...); got != tt.want {
				t.Fatalf("%d passed, want %d", got, tt.want)
			}
		})
	}
	// -1 must select the last argument: exhausting ("x", "b") must also block ("y", "b").
	m, _ := newTestManager(t)
	r := qpsRule(1)
	r.ParamIdx = -1
	mustLoad(t, m, r)
	if m.Check(call("x", "b")) != nil || m.Check(call("y", "b")) == nil {
		t.Fatal("paramIdx -1 did not limit by the last argument")
	}
}

type holder struct{ v any }

func TestCollectionArgs(t *testing.T) {
	m, _ := newTestManager(t)
	mustLoad(t, m, qpsRule(1))
	if be := m.Check(call([]int{1, 2})); be != nil {
		t.Fatalf("fresh values blocked: %v", be)
	}
	for _, arg := range []any{[]int{3, 2}, []int64{2}, []any{"z", 2}, [2]int{5, 2}, []uint16{2}} {
		be := m.Check(call(arg))
		if be == nil {
			t.Fatalf("%#v holds exhausted value 2 and passed", arg)
		}
		if be.Value != 2 && be.Value != int64(2) && be.Value != uint16(2) {
			t.Fatalf("%#v: block names value %#v, want 2", arg, be.Value)
		}
	}
	if be := m.Check(call([]string{})); be != nil {
		t.Fatalf("empty slice blocked: %v", be)
	}
	if be := m.Check(call([]string{"s1", "s2"})); be != nil {
		t.Fatalf("fresh strings blocked: %v", be)
	}
	if be := m.Check(call("s2")); be == nil {
		t.Fatal("element of a slice did not share the bucket of the scalar value")
	}
}

func TestThreadGrade(t *testing.T) {
	m, _ := newTestManager(t)
	r := qpsRule(2)
	r.Grade = GradeThread
	r.ParamFlowItemList = []Item{{Object: "1", ClassType: "int", Count: 1}}
	mustLoad(t, m, r)

	a, b, c := call("k"), call("k"), call("k")
	if m.Check(a) != nil || m.Check(b) != nil {
		t.Fatal("two concurrent calls blocked under a limit of 2")
	}
	if m.Check(c) == nil {
		t.Fatal("third concurrent call passed")
	}
	if m.Check(call("other")) != nil {
		t.Fatal("another value was blocked by k's concurrency")
	}
	m.Exit(a)
	if m.Check(c) != nil {
		t.Fatal("call blocked after a slot was given back")
	}
	m.Exit(b)
	m.Exit(c)
	if got := threads(m, 0, "k"); got != 0 {
		t.Fatalf("after all exits %d slots are held", got)
	}
	// The exception item limits value 1 to one concurrent call.
	one := call(1)
	if m.Check(one) != nil || m.Check(call(1)) == nil {
		t.Fatal("item count 1 not applied to the thread grade")
	}
	m.Exit(one)
	// Extra exits never drive the count below zero.
	m.Exit(one)
	m.Exit(one)
	if got := threads(m, 0, 1); got != 0 {
		t.Fatalf("count after extra exits = %d", got)
	}
}

// threads reads the concurrency of value v under the rule at position i.
func threads(m *Manager, i int, v any) int64 {
	k, _ := argKey(v)
	if s := m.set.Load().all[i].st.peek(&k); s != nil {
		return s.threads.Load()
	}
	return 0
}

func TestBlockGivesBackSlots(t *testing.T) {
	m, _ := newTestManager(t)
	first := qpsRule(5)
	first.Grade = GradeThread
	second := qpsRule(1) // QPS on the same argument
	mustLoad(t, m, first, second)
	if m.Check(call("k")) != nil {
		t.Fatal("first call blocked")
	}
	if m.Check(call("k")) == nil {
		t.Fatal("second call passed the QPS rule")
	}
	if got := threads(m, 0, "k"); got != 1 {
		t.Fatalf("thread slots held = %d, want 1 (the blocked call must give its slot back)", got)
	}

	// A collection whose second element is blocked gives back the first element's slot.
	m2, _ := newTestManager(t)
	tr := qpsRule(1)
	tr.Grade = GradeThread
	mustLoad(t, m2, tr)
	held := call("b")
	if m2.Check(held) != nil {
		t.Fatal("first call on b blocked")
	}
	if m2.Check(call([]string{"a", "b"})) == nil {
		t.Fatal("collection with a busy element passed")
	}
	if got := threads(m2, 0, "a"); got != 0 {
		t.Fatalf("slot of a still held after the collection was blocked: %d", got)
	}
	m2.Exit(held)
	both := call([]string{"a", "b"})
	if m2.Check(both) != nil {
		t.Fatal("collection blocked with both values free")
	}
	if threads(m2, 0, "a") != 1 || threads(m2, 0, "b") != 1 {
		t.Fatal("collection did not take a slot per element")
	}
	m2.Exit(both)
	if threads(m2, 0, "a") != 0 || threads(m2, 0, "b") != 0 {
		t.Fatal("exit of a collection did not give back every slot")
	}
}

// queueClock records sleeps without advancing, so that a test can see queueing build up.
type queueClock struct {
	*stat.ManualClock
	mu     sync.Mutex
	sleeps []time.Duration
}

func (c *queueClock) Sleep(d time.Duration) {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
}

func TestRateLimiter(t *testing.T) {
	clock := &queueClock{ManualClock: stat.NewManualClock(5_000)}
	m := NewManager(clock, quiet())
	r := qpsRule(10) // one call per 100 ms
	r.ControlBehavior = base.BehaviorRateLimiter
	r.MaxQueueingTimeMs = 250
	mustLoad(t, m, r)

	for i, want := range []time.Duration{0, 100, 200} {
		if be := m.Check(call("v")); be != nil {
			t.Fatalf("call %d blocked: %v", i, be)
		}
		var got time.Duration
		if len(clock.sleeps) > 0 {
			got = clock.sleeps[len(clock.sleeps)-1]
		}
		if i > 0 && (len(clock.sleeps) != i || got != want*time.Millisecond) {
			t.Fatalf("call %d: sleeps %v, want last %v", i, clock.sleeps, want*time.Millisecond)
		}
		if i == 0 && len(clock.sleeps) != 0 {
			t.Fatalf("first call slept %v", clock.sleeps)
		}
	}
	be := m.Check(call("v"))
	if be == nil {
		t.Fatal("call that would wait 300 ms passed with maxQueueingTimeMs 250")
	}
	if be.WaitMs != 300 {
		t.Fatalf("WaitMs = %d, want 300", be.WaitMs)
	}
	if m.Check(call("w")) != nil {
		t.Fatal("another value queued behind v")
	}
	clock.Advance(300 * time.Millisecond) // the last reserved slot is at +200 ms
	if be := m.Check(call("v")); be != nil || len(clock.sleeps) != 2 {
		t.Fatalf("after the queue drained: %v, sleeps %v", be, clock.sleeps)
	}
}

// Sentinel's param rate limiter lets a call queue only while its wait is
// shorter than maxQueueingTimeMs (flow's lets a wait of exactly that pass).
func TestRateLimiterWaitOfExactlyMaxQueueBlocks(t *testing.T) {
	clock := &queueClock{ManualClock: stat.NewManualClock(5_000)}
	m := NewManager(clock, quiet())
	r := qpsRule(10) // one call per 100 ms
	r.ControlBehavior = base.BehaviorRateLimiter
	r.MaxQueueingTimeMs = 200
	mustLoad(t, m, r)
	for i := range 2 { // waits 0 and 100 ms
		if be := m.Check(call("v")); be != nil {
			t.Fatalf("call %d blocked: %v", i, be)
		}
	}
	be := m.Check(call("v"))
	if be == nil || be.WaitMs != 200 {
		t.Fatalf("call that would wait exactly 200 ms: %v, want blocked with WaitMs 200", be)
	}
}

func TestRateLimiterWithoutQueue(t *testing.T) {
	m, clock := newTestManager(t)
	r := qpsRule(5) // 5 calls per 2 s: one per 400 ms
	r.DurationInSec = 2
	r.ControlBehavior = base.BehaviorRateLimiter // maxQueueingTimeMs 0: never wait
	r.ParamFlowItemList = []Item{{Object: "fast", Count: 20}}
	mustLoad(t, m, r)
	if m.Check(call("v")) != nil || m.Check(call("v")) == nil {
		t.Fatal("second immediate call must be blocked without a queue")
	}
	clock.Advance(399 * time.Millisecond)
	if m.Check(call("v")) == nil {
		t.Fatal("call 399 ms later passed; spacing is 2000/5 = 400 ms")
	}
	clock.Advance(time.Millisecond)
	if m.Check(call("v")) != nil {
		t.Fatal("call 400 ms later blocked")
	}
	// The item's count sets the spacing of its value: 2000/20 = 100 ms.
	if m.Check(call("fast")) != nil {
		t.Fatal("first fast call blocked")
	}
	clock.Advance(100 * time.Millisecond)
	if m.Check(call("fast")) != nil {
		t.Fatal("fast call 100 ms later blocked")
	}
}

func TestLRUBound(t *testing.T) {
	m, _ := newTestManager(t, WithMaxTrackedValues(2))
	mustLoad(t, m, qpsRule(1))
	for _, v := range []int{1, 2} {
		if passes(m, 2, v) != 1 {
			t.Fatalf("value %d: count 1 not applied", v)
		}
	}
	if passes(m, 1, 2) != 0 {
		t.Fatal("value 2 should still be tracked and exhausted")
	}
	// Value 3 pushes out the least recently used value, 1.
	passes(m, 1, 3)
	if got := m.set.Load().all[0].st.tracked(); got != 2 {
		t.Fatalf("tracked values = %d, want 2", got)
	}
	if passes(m, 1, 1) != 1 {
		t.Fatal("evicted value 1 did not start with a fresh bucket")
	}
	if passes(m, 1, 3) != 0 {
		t.Fatal("value 3 should still be tracked and exhausted")
	}
}

func TestDefaultCapacity(t *testing.T) {
	m, _ := newTestManager(t)
	for _, tt := range []struct {
		dur  int64
		want int
	}{{1, 4000}, {3, 12_000}, {50, 200_000}, {1 << 40, 200_000}} {
		r := qpsRule(1)
		r.DurationInSec = tt.dur
		if got := m.capacity(r); got != tt.want {
			t.Errorf("capacity(durationInSec %d) = %d, want %d", tt.dur, got, tt.want)
		}
	}
}

func TestReloadKeepsBuckets(t *testing.T) {
	m, _ := newTestManager(t)
	kept := qpsRule(1)
	kept.ID = 1
	changed := qpsRule(1)
	changed.Resource = "other"
	mustLoad(t, m, kept, changed)
	if passes(m, 2, "v") != 1 {
		t.Fatal("count 1 not applied")
	}
	other := &kernel.Context{Resource: "other", Args: []any{"v"}, Count: 1}
	if m.Check(other) != nil || m.Check(other) == nil {
		t.Fatal("count 1 not applied to other")
	}

	again := kept
	again.ID = 99       // ids do not make rules different
	again.LimitApp = "" // nor does blank vs "default"
	changed2 := changed
	changed2.Count = 2
	rep := mustLoad(t, m, again, changed2)
	if rep.Kept != 1 || rep.Loaded != 2 {
		t.Fatalf("report = %+v, want Kept 1 Loaded 2", rep)
	}
	if passes(m, 1, "v") != 0 {
		t.Fatal("the unchanged rule lost its exhausted bucket on reload")
	}
	if m.Check(other) != nil {
		t.Fatal("the changed rule kept the old bucket")
	}

	// Removing the rule and adding it back starts fresh.
	mustLoad(t, m)
	if passes(m, 1, "v") != 1 {
		t.Fatal("no rules: call blocked")
	}
	mustLoad(t, m, kept)
	if passes(m, 1, "v") != 1 {
		t.Fatal("re-added rule did not start fresh")
	}
}

func TestLoadReport(t *testing.T) {
	m, _ := newTestManager(t)
	good := qpsRule(1)
	dup := good
	dup.ID = 7
	badCount := qpsRule(-1)
	badRegex := qpsRule(1)
	badRegex.Resource = "GET:/(orders"
	badRegex.Regex = true
	noDuration := qpsRule(1)
	noDuration.DurationInSec = 0
	nan := qpsRule(math.NaN())
	rep := m.Load([]Rule{good, badCount, dup, badRegex, noDuration, nan})
	if rep.Loaded != 1 || rep.Duplicates != 1 || len(rep.Rejected) != 4 {
		t.Fatalf("report = %+v", rep)
	}
	for i, want := range []struct {
		idx  int
		text string
	}{{1, "count"}, {3, "regular expression"}, {4, "durationInSec"}, {5, "NaN"}} {
		got := rep.Rejected[i]
		if got.Index != want.idx || !strings.Contains(got.Reason, want.text) {
			t.Errorf("rejection %d = %+v, want index %d naming %q", i, got, want.idx, want.text)
		}
	}
	rules := m.Rules()
	if len(rules) != 1 || !rules[0].Equal(good) {
		t.Fatalf("Rules() = %+v", rules)
	}
}

func TestRulesIsACopy(t *testing.T) {
	m, _ := newTestManager(t)
	r := qpsRule(1)
	r.ParamFlowItemList = []Item{{Object: "a", Count: 5}}
	mustLoad(t, m, r)
	r.ParamFlowItemList[0].Count = 0 // the caller's slice must not reach the manager
	got := m.Rules()
	got[0].ParamFlowItemList[0].Count = 0
	got[0].Count = 100
	again := m.Rules()
	if again[0].Count != 1 || again[0].ParamFlowItemList[0].Count != 5 {
		t.Fatalf("rules in force changed through a copy: %+v", again[0])
	}
	if passes(m, 10, "a") != 5 {
		t.Fatal("item count changed through the caller's slice")
	}
}

func TestClusterMode(t *testing.T) {
	m, _ := newTestManager(t)
	noFallback := qpsRule(1)
	noFallback.ClusterMode = true
	noFallback.ClusterConfig = DefaultClusterConfig()
	noFallback.ClusterConfig.FlowID = 1
	fallback := noFallback
	fallback.Resource = "local"
	fallback.ClusterConfig.FallbackToLocalWhenFail = true
	fallback.ClusterConfig.FlowID = 2
	thread := noFallback
	thread.Resource = "thread"
	thread.Grade = GradeThread
	thread.ClusterConfig.FlowID = 3
	mustLoad(t, m, noFallback, fallback, thread)
	if passes(m, 5, "v") != 5 {
		t.Fatal("cluster rule without fallback must let calls pass")
	}
	th := &kernel.Context{Resource: "thread", Args: []any{"v"}, Count: 1}
	if m.Check(th) != nil || m.Check(th) == nil {
		t.Fatal("thread-grade cluster rule must be checked locally")
	}
	local := &kernel.Context{Resource: "local", Args: []any{"v"}, Count: 1}
	if m.Check(local) != nil || m.Check(local) == nil {
		t.Fatal("cluster rule with fallback must be checked locally")
	}
}

func TestRegexResource(t *testing.T) {
	m, _ := newTestManager(t)
	r := qpsRule(1)
	r.Resource = "GET:/orders/.*"
	r.Regex = true
	exact := qpsRule(5)
	exact.Resource = "GET:/orders/1"
	mustLoad(t, m, exact, r)
	for _, resource := range []string{"GET:/orders/1", "GET:/orders/2"} {
		c := &kernel.Context{Resource: resource, Args: []any{"v"}, Count: 1}
		if m.Check(c) != nil || m.Check(c) == nil {
			t.Fatalf("%s: regex rule with count 1 not applied", resource)
		}
	}
	c := &kernel.Context{Resource: "xGET:/orders/1", Args: []any{"v"}, Count: 1}
	if m.Check(c) != nil || m.Check(c) != nil {
		t.Fatal("regex must match the whole resource name")
	}
}

func TestWithFamily(t *testing.T) {
	m, _ := newTestManager(t, WithFamily(base.FamilyGateway))
	mustLoad(t, m, qpsRule(0))
	be := m.Check(call("v"))
	if be == nil || be.Family != base.FamilyGateway {
		t.Fatalf("block = %+v, want family %s", be, base.FamilyGateway)
	}
}

func TestNilClockAndNoRules(t *testing.T) {
	m := NewManager(nil)
	if m.Check(call("v")) != nil {
		t.Fatal("no rules: blocked")
	}
	m.Exit(call("v"))
	if len(m.Rules()) != 0 {
		t.Fatal("new manager has rules")
	}
}

func TestConcurrentQPS(t *testing.T) {
	m, _ := newTestManager(t)
	mustLoad(t, m, qpsRule(100))
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if m.Check(call(7)) == nil {
					passed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := passed.Load(); got != 100 {
		t.Fatalf("%d of 800 concurrent calls passed a bucket of 100 with time frozen", got)
	}
}

func TestConcurrentThreadsAndReload(t *testing.T) {
	m, _ := newTestManager(t)
	r := qpsRule(3)
	r.Grade = GradeThread
	mustLoad(t, m, r)
	var inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 300 {
				c := call("k")
				if m.Check(c) != nil {
					continue
				}
				n := inFlight.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				inFlight.Add(-1)
				m.Exit(c)
			}
		})
	}
	wg.Go(func() { // reloads of an equal rule must not disturb the counts
		for i := range 50 {
			again := r
			again.ID = int64(i)
			m.Load([]Rule{again})
		}
	})
	wg.Wait()
	if p := peak.Load(); p > 3 {
		t.Fatalf("peak concurrency %d over the limit 3", p)
	}
	if got := threads(m, 0, "k"); got != 0 {
		t.Fatalf("%d slots still held after every call exited", got)
	}
}

func TestBucketUsesContextTime(t *testing.T) {
	m, clock := newTestManager(t) // the clock stays at 1,000,000 ms
	mustLoad(t, m, qpsRule(1))
	at := func(ms int64) *kernel.Context {
		c := call("v")
		c.NowMs = ms
		return c
	}
	if m.Check(at(clock.NowMs())) != nil || m.Check(at(clock.NowMs())) == nil {
		t.Fatal("count 1 not applied")
	}
	if m.Check(at(clock.NowMs()+1001)) != nil {
		t.Fatal("the bucket ignored the call's NowMs, 1001 ms after the last refill")
	}
}

func TestReloadKeepsThreadAndRateLimiterState(t *testing.T) {
	m, _ := newTestManager(t)
	thread := qpsRule(1)
	thread.Grade = GradeThread
	thread.Resource = "thread"
	limiter := qpsRule(1) // one call per second, no queue
	limiter.Resource = "limiter"
	limiter.ControlBehavior = base.BehaviorRateLimiter
	mustLoad(t, m, thread, limiter)

	held := &kernel.Context{Resource: "thread", Args: []any{"v"}, Count: 1}
	lim := &kernel.Context{Resource: "limiter", Args: []any{"v"}, Count: 1}
	if m.Check(held) != nil || m.Check(lim) != nil {
		t.Fatal("first calls blocked")
	}
	thread.ID, limiter.ID = 10, 11
	if rep := mustLoad(t, m, limiter, thread); rep.Kept != 2 {
		t.Fatalf("report = %+v, want both rules kept", rep)
	}
	if m.Check(&kernel.Context{Resource: "thread", Args: []any{"v"}, Count: 1}) == nil {
		t.Fatal("the held slot was forgotten on reload")
	}
	if m.Check(lim) == nil {
		t.Fatal("the rate limiter forgot the last pass on reload")
	}
	m.Exit(held)
	if m.Check(held) != nil {
		t.Fatal("Exit after the reload did not give the slot back")
	}
}

func TestConcurrentRateLimiterReservesDistinctSlots(t *testing.T) {
	clock := &queueClock{ManualClock: stat.NewManualClock(5_000)}
	m := NewManager(clock, quiet())
	r := qpsRule(100) // 10 ms apart
	r.ControlBehavior = base.BehaviorRateLimiter
	r.MaxQueueingTimeMs = 1_000_000
	mustLoad(t, m, r)
	const n = 16
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if be := m.Check(call("v")); be != nil {
				t.Errorf("blocked with a long queue: %v", be)
			}
		})
	}
	wg.Wait()
	// The first call passes at once; the others wait 10, 20, ... 150 ms, each slot once.
	seen := make(map[time.Duration]bool)
	for _, d := range clock.sleeps {
		if seen[d] || d%(10*time.Millisecond) != 0 || d <= 0 || d > (n-1)*10*time.Millisecond {
			t.Fatalf("sleeps %v are not the distinct slots 10ms..150ms", clock.sleeps)
		}
		seen[d] = true
	}
	if len(clock.sleeps) != n-1 {
		t.Fatalf("%d calls slept, want %d", len(clock.sleeps), n-1)
	}
}

func TestRegexThreadRuleExit(t *testing.T) {
	m, _ := newTestManager(t)
	r := qpsRule(1)
	r.Grade = GradeThread
	r.Resource = "job:.*"
	r.Regex = true
	mustLoad(t, m, r)
	a := &kernel.Context{Resource: "job:a", Args: []any{"v"}, Count: 1}
	b := &kernel.Context{Resource: "job:b", Args: []any{"v"}, Count: 1}
	if m.Check(a) != nil || m.Check(b) != nil {
		t.Fatal("each matching resource must have its own slot")
	}
	if m.Check(&kernel.Context{Resource: "job:a", Args: []any{"v"}, Count: 1}) == nil {
		t.Fatal("second call on job:a passed a limit of 1")
	}
	m.Exit(a)
	if m.Check(a) != nil {
		t.Fatal("Exit on a regex-matched resource did not give the slot back")
	}
}

func TestRateLimiterQueueBoundIsStrict(t *testing.T) {
	clock := &queueClock{ManualClock: stat.NewManualClock(5_000)}
	m := NewManager(clock, quiet())
	r := qpsRule(10) // one call per 100 ms
	r.ControlBehavior = base.BehaviorRateLimiter
	r.MaxQueueingTimeMs = 200
	mustLoad(t, m, r)
	if m.Check(call("v")) != nil || m.Check(call("v")) != nil {
		t.Fatal("calls waiting 0 and 100 ms blocked with maxQueueingTimeMs 200")
	}
	be := m.Check(call("v"))
	if be == nil || be.WaitMs != 200 {
		t.Fatalf("call that would wait exactly 200 ms: %v, want blocked (Sentinel passes only waits < maxQueueingTimeMs)", be)
	}
}

func TestShardedLRUBound(t *testing.T) {
	for _, tt := range []struct {
		capacity, shards int
	}{{100, 1}, {511, 1}, {512, 2}, {4000, 8}, {4096, 16}, {200_000, 16}} {
		if got := len(newLRUSet(tt.capacity, 0, nil).shards); got != tt.shards {
			t.Errorf("capacity %d: %d shards, want %d", tt.capacity, got, tt.shards)
		}
	}
	m, _ := newTestManager(t, WithMaxTrackedValues(4096))
	mustLoad(t, m, qpsRule(1))
	for v := range 20_000 {
		m.Check(call(v))
	}
	st := m.set.Load().all[0].st
	if n := st.tracked(); n > 4096 || n < 4096*9/10 {
		t.Fatalf("tracked %d values with a bound of 4096", n)
	}
	// The most recent values are still tracked (and exhausted); the oldest are not.
	if passes(m, 1, 19_999) != 0 {
		t.Fatal("most recent value forgotten")
	}
	if passes(m, 1, 0) != 1 {
		t.Fatal("oldest value still tracked")
	}
}

func TestShardedLRUSpreadsOtherValues(t *testing.T) {
	type point struct{ x, y int }
	m, _ := newTestManager(t, WithMaxTrackedValues(4096))
	mustLoad(t, m, qpsRule(1))
	for v := range 4096 {
		m.Check(call(point{v, -v}))
	}
	if n := m.set.Load().all[0].st.tracked(); n < 4096*3/4 {
		t.Fatalf("struct values tracked: %d of 4096; they must spread over the shards", n)
	}
}
