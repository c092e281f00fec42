package param

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// benchManager returns a manager on the system clock with rules loaded.
func benchManager(b *testing.B, rules ...Rule) *Manager {
	b.Helper()
	m := NewManager(stat.SystemClock{}, quiet())
	if rep := m.Load(rules); len(rep.Rejected) > 0 {
		b.Fatal(rep.Rejected)
	}
	return m
}

func BenchmarkCheckExit(b *testing.B) {
	thread := qpsRule(1e9)
	thread.Grade = GradeThread
	items := qpsRule(1e9)
	items.ParamFlowItemList = []Item{{Object: "7", ClassType: "int", Count: 1e9}, {Object: "x", Count: 5}}
	for _, tt := range []struct {
		name string
		rule Rule
		arg  any
	}{
		{"qps/int", qpsRule(1e9), 42},
		{"qps/string", qpsRule(1e9), "user-42"},
		{"qps/int-with-items", items, 7},
		{"thread/int", thread, 42},
		{"qps/slice-of-3", qpsRule(1e9), []int{1, 2, 3}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			m := benchManager(b, tt.rule)
			c := &kernel.Context{Resource: res, Args: []any{tt.arg}, Count: 1}
			b.ReportAllocs()
			for b.Loop() {
				if be := m.Check(c); be != nil {
					b.Fatal(be)
				}
				m.Exit(c)
			}
		})
	}
}

func BenchmarkCheckExitParallel(b *testing.B) {
	m := benchManager(b, qpsRule(1e12))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := &kernel.Context{Resource: res, Args: []any{42}, Count: 1}
		for pb.Next() {
			if be := m.Check(c); be != nil {
				b.Fatal(be)
			}
			m.Exit(c)
		}
	})
}

// BenchmarkCheckExitNoRule is a call to a resource without param rules while
// 10,000 rules of other resources are loaded.
func BenchmarkCheckExitNoRule(b *testing.B) {
	m := benchManager(b, manyRules(10_000)...)
	c := &kernel.Context{Resource: "GET:/no-rules", Args: []any{42}, Count: 1}
	b.ReportAllocs()
	for b.Loop() {
		if be := m.Check(c); be != nil {
			b.Fatal(be)
		}
		m.Exit(c)
	}
}

func manyRules(n int) []Rule {
	rules := make([]Rule, n)
	for i := range rules {
		r := qpsRule(float64(10 + i%7))
		r.Resource = fmt.Sprintf("res-%d", i)
		r.ParamFlowItemList = []Item{{Object: "vip", Count: 100}}
		rules[i] = r
	}
	return rules
}

func BenchmarkLoad10000(b *testing.B) {
	rules := manyRules(10_000)
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := NewManager(stat.SystemClock{}, quiet())
			m.Load(rules)
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		m := benchManager(b, rules...)
		b.ReportAllocs()
		for b.Loop() {
			if rep := m.Load(rules); rep.Kept != len(rules) {
				b.Fatalf("kept %d", rep.Kept)
			}
		}
	})
}

// BenchmarkCheckExitParallelValues spreads the calls of each goroutine over
// 1,000 values of its own, so that they share a rule but not a value.
func BenchmarkCheckExitParallelValues(b *testing.B) {
	for _, shards := range []int{1, 0} {
		name := "one-lru"
		if shards == 0 {
			name = "sharded-lru"
		}
		b.Run(name, func(b *testing.B) { benchParallelValues(b, shards) })
	}
}

func benchParallelValues(b *testing.B, shards int) {
	m := NewManager(stat.SystemClock{}, quiet(), func(o *options) { o.shards = shards })
	mustLoadB(b, m, qpsRule(1e12))
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		base0 := next.Add(1) * 1_000_000
		args := make([][]any, 1000)
		for i := range args {
			args[i] = []any{base0 + int64(i)}
		}
		c := &kernel.Context{Resource: res, Count: 1}
		i := 0
		for pb.Next() {
			c.Args = args[i%len(args)]
			i++
			if be := m.Check(c); be != nil {
				b.Fatal(be)
			}
			m.Exit(c)
		}
	})
}

func mustLoadB(b *testing.B, m *Manager, rules ...Rule) {
	b.Helper()
	if rep := m.Load(rules); len(rep.Rejected) > 0 {
		b.Fatal(rep.Rejected)
	}
}

// BenchmarkCheckGatewayShape is the param side of one gateway entry: four
// rules on the resource reading a client IP and a URL parameter (as
// StringRefs, the way the gateway's request cache hands them out), a header
// that failed its pattern ("$NM", with one exception item) and the constant
// "$D" of a rule without a paramItem. The engine's clock reading is given.
func BenchmarkCheckGatewayShape(b *testing.B) {
	var rules []Rule
	for i := range 4 {
		r := qpsRule(1e9)
		r.ParamIdx = i
		if i == 1 {
			r.ParamFlowItemList = []Item{{Object: "$NM", ClassType: "String", Count: 1e9}}
		}
		rules = append(rules, r)
	}
	m := benchManager(b, rules...)
	ip, page := "192.0.2.10", "3"
	c := &kernel.Context{Resource: res, Args: []any{RefString(&ip), "$NM", RefString(&page), "$D"}, Count: 1,
		NowMs: stat.SystemClock{}.NowMs()}
	b.ReportAllocs()
	for b.Loop() {
		if be := m.Check(c); be != nil {
			b.Fatal(be)
		}
		m.Exit(c)
	}
}
