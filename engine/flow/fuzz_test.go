package flow_test

import (
	"math"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// FuzzLoadAndCheck loads a rule built from arbitrary fields and checks calls
// against it: whatever the rule, Load must not panic, and Check must neither
// panic nor block a call that no loaded rule covers.
func FuzzLoadAndCheck(f *testing.F) {
	f.Add("res", "default", 1, 10.0, 0, "", 0, 10, 500, false, "res", "", "", uint8(3))
	f.Add("a.*", "other", 1, 5.0, 2, "ent", 3, 1, 1, true, "abc", "o", "ent", uint8(20))
	f.Add("(", "x", 0, math.NaN(), 1, "ref", 1, -1, 0, true, "(", "x", "", uint8(1))
	f.Add("r", "", 1, math.Inf(1), 0, "", 3, 1, 1, false, "r", "", "", uint8(5))
	f.Fuzz(func(t *testing.T, res, limitApp string, grade int, count float64, strategy int, ref string,
		behavior, warmUp, queueMs int, regex bool, callRes, origin, entrance string, calls uint8) {
		clock := stat.NewManualClock(100_000)
		reg := stat.NewRegistry(16)
		m := flow.NewManager(clock, reg)
		r := flow.Rule{
			Resource: res, LimitApp: limitApp, Grade: flow.Grade(grade), Count: count,
			Strategy: flow.Strategy(strategy), RefResource: ref, ControlBehavior: base.ControlBehavior(behavior),
			WarmUpPeriodSec: warmUp, MaxQueueingTimeMs: queueMs % 2000, Regex: regex,
		}
		rep := m.Load([]flow.Rule{r, r})
		valid := rep.Loaded == 1 && rep.Duplicates == 1 && len(rep.Rejected) == 0
		invalid := rep.Loaded == 0 && rep.Duplicates == 0 && len(rep.Rejected) == 2
		if !valid && !invalid {
			t.Fatalf("report %+v for one rule given twice", rep)
		}
		for range int(calls % 32) {
			c := &kernel.Context{Resource: callRes, Count: 1, Origin: origin, Entrance: entrance,
				NowMs: clock.NowMs(), Node: reg.GetOrCreate(callRes)}
			be := m.Check(c)
			if be != nil && rep.Loaded == 0 {
				t.Fatalf("blocked with no rule loaded: %v", be)
			}
			if be == nil && c.Node != nil {
				c.Node.Node.AddPass(c.NowMs, 1)
			}
			clock.Advance(7 * time.Millisecond)
		}
	})
}
