package degrade

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// FuzzLoadAndCalls loads one rule built from arbitrary fields and drives calls
// through it: whatever the rule, Load must not panic, must either reject it or
// load it, and a loaded breaker must only ever be in one of its three states.
func FuzzLoadAndCalls(f *testing.F) {
	f.Add("res", false, 0, 100.0, 10, 5, 1.0, 1000, uint64(0b1010), int64(150))
	f.Add("^a.*", true, 1, 0.5, 1, 1, 0.0, 1, uint64(math.MaxUint64), int64(0))
	f.Add("(", true, 2, -1.0, 0, 0, 2.0, 0, uint64(1), int64(-5))
	f.Add("r", false, 2, math.NaN(), math.MaxInt, math.MaxInt, math.Inf(1), math.MaxInt, uint64(7), int64(math.MaxInt64/4))
	f.Fuzz(func(t *testing.T, res string, regex bool, grade int, count float64, timeWindow, minReq int, slow float64, statMs int, pattern uint64, rt int64) {
		r := Rule{Resource: res, Regex: regex, Grade: Grade(grade), Count: count, TimeWindow: timeWindow,
			MinRequestAmount: minReq, SlowRatioThreshold: slow, StatIntervalMs: statMs}
		clk := stat.NewManualClock(1_000_000)
		m := NewManager(clk)
		rep := m.Load([]Rule{r})
		if rep.Loaded+len(rep.Rejected) != 1 {
			t.Fatalf("report %+v accounts for %d rules, want 1", rep, rep.Loaded+len(rep.Rejected))
		}
		if len(rep.Rejected) == 1 && !errors.Is(r.Validate(), ErrInvalidRule) {
			t.Fatalf("rejected %+v without a validation error", r)
		}
		for i := range 64 {
			c := &kernel.Context{Resource: res, NowMs: clk.NowMs()}
			if m.Check(c) == nil {
				c.RTMs = rt
				if pattern&(1<<i) != 0 {
					c.Err = errors.New("fail")
				}
				m.Exit(c)
			}
			clk.Advance(time.Duration(rt%5000) * time.Millisecond)
			if st, ok := m.BreakerState(r); ok && st != StateClosed && st != StateOpen && st != StateHalfOpen {
				t.Fatalf("state %v", st)
			}
		}
	})
}
