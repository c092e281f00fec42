// Package benchmarks compares rulesync with other flow-control libraries in
// one test binary, so that their ratio is measured in the same run on the
// same machine. It is a module of its own so that the libraries compared
// against never enter the requirements of rulesync's own modules.
package benchmarks

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"

	sentinel "github.com/alibaba/sentinel-golang/api"
	sconfig "github.com/alibaba/sentinel-golang/core/config"
	sflow "github.com/alibaba/sentinel-golang/core/flow"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
)

// sentinel-golang keeps its rules and statistics in package-level state, so it
// is initialised once for the whole test binary, with its background writers
// (metric log, system collectors) off so that they do not disturb the numbers.
var initSentinel = sync.OnceValue(func() error {
	dir, err := os.MkdirTemp("", "sentinel-golang-bench")
	if err != nil {
		return err
	}
	conf := sconfig.NewDefaultConfig()
	conf.Sentinel.Log.Dir = dir
	conf.Sentinel.Log.Metric.FlushIntervalSec = 0
	conf.Sentinel.Stat.System.CollectIntervalMs = 0
	conf.Sentinel.Stat.System.CollectLoadIntervalMs = 0
	conf.Sentinel.Stat.System.CollectCpuIntervalMs = 0
	conf.Sentinel.Stat.System.CollectMemoryIntervalMs = 0
	return sentinel.InitWithConfig(conf)
})

func sentinelRules(extra int) []*sflow.Rule {
	rule := func(res string, threshold float64) *sflow.Rule {
		return &sflow.Rule{
			Resource:               res,
			TokenCalculateStrategy: sflow.Direct,
			ControlBehavior:        sflow.Reject,
			Threshold:              threshold,
			StatIntervalInMs:       1000,
		}
	}
	rules := []*sflow.Rule{rule("bench", 1e12)}
	for i := range extra {
		rules = append(rules, rule("other-"+strconv.Itoa(i), 100))
	}
	return rules
}

func loadSentinel(b *testing.B, extra int) {
	b.Helper()
	if err := initSentinel(); err != nil {
		b.Fatal(err)
	}
	if _, err := sflow.LoadRules(sentinelRules(extra)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _, _ = sflow.LoadRules(nil) })
}

// rulesyncEngine loads the same rules as loadSentinel: one QPS rule on
// "bench" that never blocks, plus extra rules on other resources.
func rulesyncEngine(b *testing.B, extra int) *engine.Engine {
	b.Helper()
	e := engine.New()
	b.Cleanup(func() { _ = e.Close() })
	rules := []flow.Rule{{Resource: "bench", Grade: flow.GradeQPS, Count: 1e12}}
	for i := range extra {
		rules = append(rules, flow.Rule{Resource: "other-" + strconv.Itoa(i), Grade: flow.GradeQPS, Count: 100})
	}
	if rep := e.Flow().Load(rules); rep.Loaded != extra+1 {
		b.Fatalf("loaded %d rules", rep.Loaded)
	}
	return e
}

// BenchmarkRulesyncEntryExit is the pass path of one rulesync Entry and Exit,
// the counterpart of BenchmarkSentinelGolangEntryExit.
func BenchmarkRulesyncEntryExit(b *testing.B) {
	for _, n := range []int{0, 10_000} {
		b.Run("rules="+strconv.Itoa(n+1), func(b *testing.B) {
			e := rulesyncEngine(b, n)
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

// BenchmarkRulesyncEntryExitParallel is BenchmarkRulesyncEntryExit on every core.
func BenchmarkRulesyncEntryExitParallel(b *testing.B) {
	for _, n := range []int{0, 10_000} {
		b.Run("rules="+strconv.Itoa(n+1), func(b *testing.B) {
			e := rulesyncEngine(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
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

// BenchmarkSentinelGolangEntryExit is BenchmarkRulesyncEntryExit on
// github.com/alibaba/sentinel-golang, for the ratio in BENCHMARKS.md.
func BenchmarkSentinelGolangEntryExit(b *testing.B) {
	for _, n := range []int{0, 10_000} {
		b.Run("rules="+strconv.Itoa(n+1), func(b *testing.B) {
			loadSentinel(b, n)
			b.ReportAllocs()
			for b.Loop() {
				en, be := sentinel.Entry("bench")
				if be != nil {
					b.Fatal(be)
				}
				en.Exit()
			}
		})
	}
}

// BenchmarkSentinelGolangEntryExitParallel is BenchmarkRulesyncEntryExitParallel on sentinel-golang.
func BenchmarkSentinelGolangEntryExitParallel(b *testing.B) {
	for _, n := range []int{0, 10_000} {
		b.Run("rules="+strconv.Itoa(n+1), func(b *testing.B) {
			loadSentinel(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					en, be := sentinel.Entry("bench")
					if be != nil {
						b.Fatal(be)
					}
					en.Exit()
				}
			})
		})
	}
}
