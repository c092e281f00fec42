package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
	"github.com/rulesync/rulesync/internal/syncbuf"
)

// fakeSampler returns whatever the test stores and counts its calls.
type fakeSampler struct {
	load, cpu atomic.Uint64
	calls     atomic.Int64
}

func newFake(load, cpu float64) *fakeSampler {
	f := &fakeSampler{}
	f.set(load, cpu)
	return f
}

func (f *fakeSampler) set(load, cpu float64) {
	f.load.Store(math.Float64bits(load))
	f.cpu.Store(math.Float64bits(cpu))
}
func (f *fakeSampler) Load1() float64 { f.calls.Add(1); return math.Float64frombits(f.load.Load()) }
func (f *fakeSampler) CPUUsage() float64 {
	return math.Float64frombits(f.cpu.Load())
}

func sys(mutate func(*Rule)) Rule {
	r := DefaultRule()
	mutate(&r)
	return r
}

func TestLoadMergesSmallestValues(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  Rule
	}{
		{"nothing", nil, DefaultRule()},
		{"one field", []Rule{sys(func(r *Rule) { r.QPS = 100 })}, sys(func(r *Rule) { r.QPS = 100 })},
		{"smallest wins per field", []Rule{
			sys(func(r *Rule) { r.QPS = 100; r.AvgRT = 20; r.HighestSystemLoad = 8 }),
			sys(func(r *Rule) { r.QPS = 50; r.MaxThread = 10; r.HighestCPUUsage = 0.9 }),
			sys(func(r *Rule) { r.AvgRT = 40; r.MaxThread = 5; r.HighestSystemLoad = 4.5; r.HighestCPUUsage = 0.7 }),
		}, Rule{QPS: 50, AvgRT: 20, MaxThread: 5, HighestSystemLoad: 4.5, HighestCPUUsage: 0.7}},
		{"negative means unset", []Rule{
			sys(func(r *Rule) { r.QPS = -5; r.AvgRT = 30 }),
			sys(func(r *Rule) { r.QPS = 10; r.AvgRT = -1 }),
		}, sys(func(r *Rule) { r.QPS = 10; r.AvgRT = 30 })},
		{"zero is a threshold", []Rule{sys(func(r *Rule) { r.MaxThread = 0; r.QPS = 0 })}, sys(func(r *Rule) { r.MaxThread = 0; r.QPS = 0 })},
		{"cpu above 1 ignored", []Rule{
			sys(func(r *Rule) { r.HighestCPUUsage = 1.5 }),
			sys(func(r *Rule) { r.HighestCPUUsage = 0.95 }),
		}, sys(func(r *Rule) { r.HighestCPUUsage = 0.95 })},
		{"only cpu above 1", []Rule{sys(func(r *Rule) { r.HighestCPUUsage = 80 })}, DefaultRule()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewManager(stat.NewManualClock(0), stat.NewNode(), WithSampler(newFake(-1, -1)))
			rep := m.Load(tt.rules)
			if len(rep.Rejected) != 0 || rep.Loaded != len(tt.rules) {
				t.Fatalf("report %+v", rep)
			}
			if got := m.Thresholds(); got != tt.want {
				t.Fatalf("thresholds %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadCollapsesDuplicatesAndClears(t *testing.T) {
	m := NewManager(stat.NewManualClock(0), stat.NewNode(), WithSampler(newFake(-1, -1)))
	a := sys(func(r *Rule) { r.QPS = 1; r.ID = 1 })
	b := sys(func(r *Rule) { r.QPS = 1; r.ID = 2; r.Resource = "ignored" })
	rep := m.Load([]Rule{a, b})
	if rep.Loaded != 1 || rep.Duplicates != 1 || len(m.Rules()) != 1 || m.Rules()[0] != a {
		t.Fatalf("report %+v rules %+v", rep, m.Rules())
	}
	m.Load(nil)
	if m.Thresholds() != DefaultRule() || len(m.Rules()) != 0 {
		t.Fatalf("not cleared: %+v", m.Thresholds())
	}
	c := &kernel.Context{Resource: "r", Inbound: true, Count: 1}
	if be := m.Check(c); be != nil {
		t.Fatalf("cleared rules block: %v", be)
	}
}

type fixture struct {
	clk  *stat.ManualClock
	node *stat.Node
	fake *fakeSampler
	m    *Manager
}

func newFixture(t *testing.T, rules ...Rule) *fixture {
	t.Helper()
	f := &fixture{clk: stat.NewManualClock(1_000_000), node: stat.NewNode(), fake: newFake(-1, -1)}
	f.m = NewManager(f.clk, f.node, WithSampler(f.fake))
	f.m.Load(rules)
	return f
}

func (f *fixture) check(inbound bool, count int64) *base.BlockError {
	return f.m.Check(&kernel.Context{Resource: "res", Inbound: inbound, Count: count, NowMs: f.clk.NowMs()})
}

// pass records n admitted calls that stay in flight.
func (f *fixture) pass(n int) {
	for range n {
		f.node.AddPass(f.clk.NowMs(), 1)
	}
}

func wantBlock(t *testing.T, be *base.BlockError, limit Limit, blocked bool) {
	t.Helper()
	if (be != nil) != blocked {
		t.Fatalf("blocked = %v, want %v (%v)", be != nil, blocked, be)
	}
	if be == nil {
		return
	}
	if be.Family != base.FamilySystem || be.Resource != "res" || !strings.HasPrefix(be.Reason, string(limit)+": ") || !errors.Is(be, base.ErrBlocked) {
		t.Fatalf("block error %+v, want limit %s", be, limit)
	}
	if _, ok := be.Rule.(Rule); !ok {
		t.Fatalf("block error rule %T, want system.Rule", be.Rule)
	}
}

func TestCheckQPS(t *testing.T) {
	for _, tt := range []struct {
		passed  int
		count   int64
		blocked bool
	}{{0, 1, false}, {9, 1, false}, {10, 1, true}, {8, 2, false}, {9, 2, true}, {0, 11, true}} {
		t.Run(fmt.Sprintf("%d+%d", tt.passed, tt.count), func(t *testing.T) {
			f := newFixture(t, sys(func(r *Rule) { r.QPS = 10 }))
			f.pass(tt.passed)
			wantBlock(t, f.check(true, tt.count), LimitQPS, tt.blocked)
			wantBlock(t, f.check(false, tt.count), LimitQPS, false) // outbound: never
		})
	}
}

func TestCheckMaxThread(t *testing.T) {
	f := newFixture(t, sys(func(r *Rule) { r.MaxThread = 3 }))
	f.pass(3)
	wantBlock(t, f.check(true, 1), LimitThread, false)
	f.pass(1)
	wantBlock(t, f.check(true, 1), LimitThread, true)
	wantBlock(t, f.check(false, 1), LimitThread, false)
	f.node.AddComplete(f.clk.NowMs(), 1, 1, false)
	wantBlock(t, f.check(true, 1), LimitThread, false)
}

func TestCheckAvgRT(t *testing.T) {
	for _, tt := range []struct {
		rts     []int64
		blocked bool
	}{{nil, false}, {[]int64{40, 60}, false}, {[]int64{40, 61}, true}, {[]int64{51}, true}} {
		t.Run(fmt.Sprint(tt.rts), func(t *testing.T) {
			f := newFixture(t, sys(func(r *Rule) { r.AvgRT = 50 }))
			for _, rt := range tt.rts {
				f.node.AddPass(f.clk.NowMs(), 1)
				f.node.AddComplete(f.clk.NowMs(), 1, rt, false)
			}
			wantBlock(t, f.check(true, 1), LimitRT, tt.blocked)
			wantBlock(t, f.check(false, 1), LimitRT, false)
		})
	}
}

func TestCheckLoadAdaptive(t *testing.T) {
	// Capacity: 10 completions in one 500 ms bucket -> max success QPS 20; min
	// RT 100 ms -> 20 x 100 / 1000 = 2 calls in flight are sustainable.
	tests := []struct {
		name     string
		load     float64
		inFlight int
		blocked  bool
	}{
		{"load below threshold", 3.9, 10, false},
		{"load equal to threshold", 4, 10, false},
		{"high load, one call in flight", 8, 1, false},
		{"high load, within capacity", 8, 2, false},
		{"high load, beyond capacity", 8, 3, true},
		{"unknown load", -1, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, sys(func(r *Rule) { r.HighestSystemLoad = 4 }))
			for range 10 {
				f.node.AddPass(f.clk.NowMs(), 1)
				f.node.AddComplete(f.clk.NowMs(), 1, 100, false)
			}
			f.pass(tt.inFlight)
			f.fake.set(tt.load, -1)
			f.m.Refresh()
			wantBlock(t, f.check(true, 1), LimitLoad, tt.blocked)
			wantBlock(t, f.check(false, 1), LimitLoad, false)
		})
	}
	t.Run("high load, nothing completed", func(t *testing.T) {
		// Max success QPS 0: any concurrency above 1 is beyond capacity.
		f := newFixture(t, sys(func(r *Rule) { r.HighestSystemLoad = 4 }))
		f.pass(2)
		f.fake.set(5, -1)
		f.m.Refresh()
		wantBlock(t, f.check(true, 1), LimitLoad, true)
	})
}

func TestCheckCPU(t *testing.T) {
	for _, tt := range []struct {
		cpu     float64
		blocked bool
	}{{0.5, false}, {0.8, false}, {0.81, true}, {1, true}, {-1, false}, {math.NaN(), false}} {
		t.Run(fmt.Sprint(tt.cpu), func(t *testing.T) {
			f := newFixture(t, sys(func(r *Rule) { r.HighestCPUUsage = 0.8 }))
			f.fake.set(-1, tt.cpu)
			f.m.Refresh()
			wantBlock(t, f.check(true, 1), LimitCPU, tt.blocked)
			wantBlock(t, f.check(false, 1), LimitCPU, false)
		})
	}
}

func TestUnsetFieldsDoNotBlock(t *testing.T) {
	f := newFixture(t, sys(func(r *Rule) { r.QPS = 1000 }))
	f.pass(50) // 50 threads, no thread limit
	for range 5 {
		f.node.AddComplete(f.clk.NowMs(), 1, 10_000, false) // slow, no rt limit
	}
	f.fake.set(100, 1) // overloaded, no load or cpu limit
	f.m.Refresh()
	wantBlock(t, f.check(true, 1), "", false)
}

func TestBlockNamesTheRuleThatSetTheThreshold(t *testing.T) {
	strict := sys(func(r *Rule) { r.ID = 2; r.MaxThread = 1 })
	f := newFixture(t, sys(func(r *Rule) { r.ID = 1; r.MaxThread = 5; r.QPS = 100 }), strict)
	f.pass(2)
	be := f.check(true, 1)
	wantBlock(t, be, LimitThread, true)
	if be.Rule.(Rule) != strict {
		t.Fatalf("rule %+v, want %+v", be.Rule, strict)
	}
}

func TestStartCloseNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	fake := newFake(2, 0.5)
	m := NewManager(stat.SystemClock{}, stat.NewNode(), WithSampler(fake), WithSampleInterval(time.Millisecond))
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := m.Load1(); got != 2 || m.CPUUsage() != 0.5 {
		t.Fatalf("Start did not sample at once: load %v cpu %v", got, m.CPUUsage())
	}
	if err := m.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	// The goroutine keeps sampling: wait for it to pick up a new value.
	fake.set(3, 0.25)
	waitFor(t, func() bool { return m.Load1() == 3 && m.CPUUsage() == 0.25 })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	calls := fake.calls.Load()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
	if fake.calls.Load() != calls {
		t.Fatal("sampler called after Close")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Restart, then stop through the context.
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Start(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	cancel()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSamplingOnDemand(t *testing.T) {
	before := runtime.NumGoroutine()
	fake := newFake(2, 0.5)
	m := NewManager(stat.SystemClock{}, stat.NewNode(), WithSampler(fake), WithSampleInterval(time.Millisecond), WithSamplingOnDemand())
	m.Load([]Rule{sys(func(r *Rule) { r.QPS = 10 })})
	if fake.calls.Load() != 0 || m.Load1() != -1 {
		t.Fatalf("a QPS rule started the sampler (%d calls, load %v)", fake.calls.Load(), m.Load1())
	}
	m.Load([]Rule{sys(func(r *Rule) { r.HighestCPUUsage = 0.9 })})
	// Load sampled before it published the rule, so its first check has figures.
	if m.CPUUsage() != 0.5 {
		t.Fatalf("after loading a CPU rule: cpu %v, want 0.5", m.CPUUsage())
	}
	fake.set(3, 0.25)
	waitFor(t, func() bool { return m.Load1() == 3 })              // the goroutine samples
	m.Load([]Rule{sys(func(r *Rule) { r.HighestSystemLoad = 4 })}) // already running: nothing more
	if err := m.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("Start while sampling on demand: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
	calls := fake.calls.Load()
	m.Load([]Rule{sys(func(r *Rule) { r.HighestCPUUsage = 0.8 })})
	if fake.calls.Load() != calls {
		t.Fatal("Load after Close started the sampler")
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("explicit Start after Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

// waitFor polls cond; it fails the test if cond stays false for long. It never
// asserts how long anything took.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 5000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("condition not reached")
}

func TestCheckConcurrentWithLoadAndSampling(t *testing.T) {
	clk := stat.NewManualClock(0)
	node := stat.NewNode()
	fake := newFake(5, 0.5)
	m := NewManager(clk, node, WithSampler(fake), WithSampleInterval(time.Millisecond))
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := &kernel.Context{Resource: "r", Inbound: true, Count: 1, NowMs: clk.NowMs()}
				if m.Check(c) == nil {
					node.AddPass(c.NowMs, 1)
					node.AddComplete(c.NowMs, 1, 3, false)
				}
				clk.Advance(time.Millisecond)
			}
		}()
	}
	for i := range 300 {
		m.Load([]Rule{sys(func(r *Rule) { r.QPS = float64(i); r.HighestSystemLoad = 1; r.HighestCPUUsage = 0.9 })})
		fake.set(float64(i%7), float64(i%10)/10)
	}
	close(stop)
	wg.Wait()
}

func TestCheckPassDoesNotAllocate(t *testing.T) {
	f := newFixture(t, sys(func(r *Rule) {
		r.QPS, r.MaxThread, r.AvgRT, r.HighestSystemLoad, r.HighestCPUUsage = 1000, 100, 1000, 100, 0.99
	}))
	f.fake.set(1, 0.1)
	f.m.Refresh()
	c := &kernel.Context{Resource: "res", Inbound: true, Count: 1, NowMs: f.clk.NowMs()}
	if n := testing.AllocsPerRun(100, func() {
		if f.m.Check(c) != nil {
			t.Fatal("blocked")
		}
	}); n != 0 {
		t.Fatalf("Check allocates %v times per pass", n)
	}
}

func BenchmarkCheckPass(b *testing.B) {
	node := stat.NewNode()
	m := NewManager(stat.SystemClock{}, node, WithSampler(newFake(1, 0.1)))
	m.Load([]Rule{sys(func(r *Rule) {
		r.QPS, r.MaxThread, r.AvgRT, r.HighestSystemLoad, r.HighestCPUUsage = 1e12, 1<<40, 1<<40, 100, 0.99
	})})
	m.Refresh()
	// The engine reads the clock once per call and hands the reading over in
	// the Context; the benchmark measures the family alone.
	c := &kernel.Context{Resource: "res", Inbound: true, Count: 1, NowMs: stat.SystemClock{}.NowMs()}
	b.ReportAllocs()
	for b.Loop() {
		if m.Check(c) != nil {
			b.Fatal("blocked")
		}
	}
}

func BenchmarkLoad10000(b *testing.B) {
	rules := make([]Rule, 10000)
	for i := range rules {
		rules[i] = sys(func(r *Rule) { r.QPS = float64(1000 + i); r.AvgRT = int64(i % 500) })
	}
	m := NewManager(stat.SystemClock{}, stat.NewNode(), WithSampler(newFake(-1, -1)))
	b.ReportAllocs()
	for b.Loop() {
		m.Load(rules)
	}
}

// failingSampler reports an error until healed.
type failingSampler struct {
	fakeSampler
	broken atomic.Bool
}

func (f *failingSampler) Err() error {
	if f.broken.Load() {
		return ErrNoData
	}
	return nil
}

func TestSamplerFailureLoggedOncePerOutage(t *testing.T) {
	fs := &failingSampler{}
	fs.set(-1, -1)
	fs.broken.Store(true)
	var buf syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	m := NewManager(stat.SystemClock{}, stat.NewNode(), WithSampler(fs), WithSampleInterval(time.Millisecond), WithLogger(logger))
	warnings := func() int { return strings.Count(buf.String(), "cannot sample") }

	// No load or CPU rule: nothing to warn about.
	m.Load([]Rule{sys(func(r *Rule) { r.QPS = 5 })})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	calls := fs.calls.Load()
	waitFor(t, func() bool { return fs.calls.Load() >= calls+3 })
	if n := warnings(); n != 0 {
		t.Fatalf("%d warnings without a load or cpu rule", n)
	}

	m.Load([]Rule{sys(func(r *Rule) { r.HighestCPUUsage = 0.5 })})
	waitFor(t, func() bool { return warnings() == 1 })
	calls = fs.calls.Load()
	waitFor(t, func() bool { return fs.calls.Load() >= calls+5 })
	if n := warnings(); n != 1 {
		t.Fatalf("%d warnings during one outage, want 1", n)
	}

	// Healed, then broken again: a new outage is reported again.
	fs.broken.Store(false)
	calls = fs.calls.Load()
	waitFor(t, func() bool { return fs.calls.Load() >= calls+3 })
	fs.broken.Store(true)
	waitFor(t, func() bool { return warnings() == 2 })
}
