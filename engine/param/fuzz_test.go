package param

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// FuzzItem checks that any exception item either is dropped with an error or
// matches exactly the argument its Object names, and never panics.
func FuzzItem(f *testing.F) {
	for _, s := range [][2]string{
		{"7", "int"}, {"-128", "byte"}, {"128", "byte"}, {"9223372036854775807", "long"},
		{"2.5", "double"}, {"NaN", "float"}, {"1e400", "double"}, {"true", "boolean"}, {"TRUE", "Boolean"},
		{"é", "char"}, {"\xff", "char"}, {"", "char"}, {"abc", "java.lang.String"}, {" 12 ", "short"},
	} {
		f.Add(s[0], s[1], int64(0))
	}
	f.Fuzz(func(t *testing.T, object, classType string, count int64) {
		it := Item{Object: object, ClassType: classType, Count: count}
		r := qpsRule(1e9)
		r.ParamFlowItemList = []Item{it}
		valid, dropped := r.ValidItems()
		if len(valid)+len(dropped) != 1 {
			t.Fatalf("ValidItems split 1 item into %d valid and %d dropped", len(valid), len(dropped))
		}
		k, err := parseItem(it)
		if (err == nil) != (len(valid) == 1) {
			t.Fatalf("parseItem error %v disagrees with ValidItems", err)
		}
		if err != nil {
			return
		}
		// The argument the item names must get the item's threshold, here 0.
		var arg any
		ck, _ := classOf(classType)
		switch ck {
		case classInt:
			n, _ := strconv.ParseInt(strings.TrimSpace(object), 10, 64)
			arg = n
		case classFloat:
			x, _ := strconv.ParseFloat(strings.TrimSpace(object), 64)
			arg = x
		case classBool:
			arg = strings.EqualFold(strings.TrimSpace(object), "true")
		case classChar:
			arg = []rune(object)[0]
		default:
			arg = object
		}
		if got, _ := argKey(arg); got != k {
			t.Fatalf("item %+v parsed to %+v, but its argument %#v normalizes to %+v", it, k, arg, got)
		}
		if count != 0 {
			return
		}
		m := NewManager(stat.NewManualClock(0), quiet())
		m.Load([]Rule{r})
		if f, ok := arg.(float64); ok && math.IsNaN(f) {
			return // NaN is a value too, but keep the check simple
		}
		if m.Check(call(arg)) == nil {
			t.Fatalf("item %+v with count 0 did not block %#v", it, arg)
		}
	})
}

// FuzzCheck loads a rule built from fuzzed fields and runs calls through it:
// nothing may panic, a rule is either loaded or rejected, and thread slots all
// come back.
func FuzzCheck(f *testing.F) {
	f.Add(int8(1), int8(0), 10.0, 0, int64(1), int8(0), 0, int64(5), "v", 1.5)
	f.Add(int8(0), int8(-1), 2.0, 1, int64(3), int8(2), 500, int64(-3), "", math.Inf(1))
	f.Add(int8(1), int8(1), 1e300, 1<<40, int64(math.MaxInt64), int8(2), 1<<30, int64(math.MinInt64), "x", math.NaN())
	f.Fuzz(func(t *testing.T, grade, idx int8, count float64, burst int, dur int64, behavior int8, queue int, n int64, s string, x float64) {
		r := qpsRule(count)
		r.Grade = Grade(grade)
		r.ParamIdx = int(idx)
		r.BurstCount = burst
		r.DurationInSec = dur
		r.ControlBehavior = base.ControlBehavior(behavior)
		r.MaxQueueingTimeMs = queue
		r.ParamFlowItemList = []Item{{Object: s, Count: n}, {Object: strconv.FormatInt(n, 10), ClassType: "long", Count: 1}}
		clock := stat.NewManualClock(1)
		m := NewManager(clock, quiet(), WithMaxTrackedValues(4))
		rep := m.Load([]Rule{r})
		if rep.Loaded+len(rep.Rejected) != 1 {
			t.Fatalf("report %+v for one rule", rep)
		}
		args := []any{n, s, x, []any{n, s, x}, nil}
		var passed []*kernel.Context
		for i := range 6 {
			c := call(args...)
			c.Count = int64(i % 3)
			if m.Check(c) == nil {
				passed = append(passed, c)
			}
			clock.Advance(time.Duration(i) * 300 * time.Millisecond)
		}
		for _, c := range passed {
			m.Exit(c)
		}
		if rep.Loaded == 1 && r.Grade == GradeThread {
			for _, v := range []any{n, s, x} {
				if got := threads(m, 0, v); got != 0 {
					t.Fatalf("value %#v holds %d slots after every call exited", v, got)
				}
			}
		}
	})
}
