package flow_test

import (
	"strconv"
	"testing"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// BenchmarkCheck measures Manager.Check alone on a passing call, for the rule
// shapes that cost differently on the hot path.
func BenchmarkCheck(b *testing.B) {
	warm := qps("bench", 1e12)
	warm.ControlBehavior = base.BehaviorWarmUp
	regex := qps(`ben.h`, 1e12)
	regex.Regex = true
	named := qps("bench", 1e12)
	named.LimitApp = "appA"
	other := qps("bench", 1e12)
	other.LimitApp = base.LimitAppOther
	many := []flow.Rule{qps("bench", 1e12)}
	for i := range 10_000 {
		many = append(many, qps("other-"+strconv.Itoa(i), 100))
	}
	cases := []struct {
		name   string
		rules  []flow.Rule
		origin string
	}{
		{"reject", []flow.Rule{qps("bench", 1e12)}, ""},
		{"reject/10001-rules", many, ""},
		{"warm-up", []flow.Rule{warm}, ""},
		{"regex-cached", []flow.Rule{regex}, ""},
		{"origin+other+default", []flow.Rule{named, other, qps("bench", 1e12)}, "appB"},
		{"no-rule", []flow.Rule{qps("elsewhere", 1)}, ""},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			clock := stat.SystemClock{}
			reg := stat.NewRegistry(0)
			m := flow.NewManager(clock, reg)
			m.Load(tc.rules)
			// The engine reads the clock once per call; here it is read once, so
			// that the numbers are Check's own.
			c := &kernel.Context{Resource: "bench", Count: 1, Origin: tc.origin, Node: reg.GetOrCreate("bench"), NowMs: clock.NowMs()}
			b.ReportAllocs()
			for b.Loop() {
				if be := m.Check(c); be != nil {
					b.Fatal(be)
				}
			}
		})
	}
}
