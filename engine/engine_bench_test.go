package engine_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
)

// benchRules returns one QPS rule on "bench" that never blocks, plus extra
// rules on other resources.
func benchRules(extra int) []flow.Rule {
	rules := []flow.Rule{qps("bench", 1e12)}
	for i := range extra {
		rules = append(rules, qps("other-"+strconv.Itoa(i), 100))
	}
	return rules
}

// clocks are the engine's two real clocks: the system clock, read on every
// Entry and Exit, and the coarse clock, one atomic load.
var clocks = []struct {
	name string
	opts []engine.Option
}{
	{"clock=system", nil},
	{"clock=coarse", []engine.Option{engine.WithCoarseClock(time.Millisecond)}},
}

func benchEngine(b *testing.B, extra int, opts ...engine.Option) *engine.Engine {
	e := engine.New(opts...)
	b.Cleanup(func() { _ = e.Close() })
	if rep := e.Flow().Load(benchRules(extra)); rep.Loaded != extra+1 {
		b.Fatalf("loaded %d rules", rep.Loaded)
	}
	return e
}

func BenchmarkEntryExit(b *testing.B) {
	for _, clk := range clocks {
		for _, n := range []int{0, 10_000} {
			b.Run(clk.name+"/rules="+strconv.Itoa(n+1), func(b *testing.B) {
				e := benchEngine(b, n, clk.opts...)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					en, err := e.Entry(ctx, "bench")
					if err != nil {
						b.Fatal(err)
					}
					en.Exit()
				}
			})
		}
	}
}

// BenchmarkEntryExitHistory is BenchmarkEntryExit with the per-second
// history a dashboard agent turns on (KeepHistory): it costs the pass path
// only when a statistics bucket is replaced, twice a second per resource.
func BenchmarkEntryExitHistory(b *testing.B) {
	for _, clk := range clocks {
		b.Run(clk.name, func(b *testing.B) {
			e := benchEngine(b, 0, clk.opts...)
			e.KeepHistory(65)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				en, err := e.Entry(ctx, "bench")
				if err != nil {
					b.Fatal(err)
				}
				en.Exit()
			}
		})
	}
}

func BenchmarkEntryExitParallel(b *testing.B) {
	for _, clk := range clocks {
		for _, n := range []int{0, 10_000} {
			b.Run(clk.name+"/rules="+strconv.Itoa(n+1), func(b *testing.B) {
				e := benchEngine(b, n, clk.opts...)
				b.ReportAllocs()
				b.ResetTimer() // loading 10,000 rules is not part of the call
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						en, err := e.Entry(ctx, "bench")
						if err != nil {
							b.Fatal(err)
						}
						en.Exit()
					}
				})
			})
		}
	}
}

// BenchmarkEntryExitOriginInbound is the pass path of a server call: a caller
// origin, inbound statistics, the origin node counted too.
func BenchmarkEntryExitOriginInbound(b *testing.B) {
	e := benchEngine(b, 0)
	ctx := engine.WithOrigin(context.Background(), "appA")
	b.ReportAllocs()
	for b.Loop() {
		en, err := e.Entry(ctx, "bench", engine.Inbound())
		if err != nil {
			b.Fatal(err)
		}
		en.Exit()
	}
}

// BenchmarkEntryBlocked is the block path: it allocates the BlockError and its reason.
func BenchmarkEntryBlocked(b *testing.B) {
	e := engine.New()
	defer e.Close()
	e.Flow().Load([]flow.Rule{qps("bench", 0)})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Entry(ctx, "bench"); err == nil {
			b.Fatal("passed")
		}
	}
}
