package param

import (
	"testing"

	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

func TestPassPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	m := NewManager(stat.NewManualClock(0), quiet())
	thread := qpsRule(1e9)
	thread.Grade = GradeThread
	thread.Resource = "thread"
	mustLoad(t, m, qpsRule(1e9), thread)
	for _, c := range []*kernel.Context{
		{Resource: res, Args: []any{42}, Count: 1},
		{Resource: res, Args: []any{"user"}, Count: 1},
		{Resource: "thread", Args: []any{42}, Count: 1},
		{Resource: "no-rules", Args: []any{42}, Count: 1},
		{Resource: res, Count: 1},
	} {
		m.Check(c) // first sight of a value creates its state
		m.Exit(c)
		if n := testing.AllocsPerRun(100, func() {
			if m.Check(c) != nil {
				t.Fatal("blocked")
			}
			m.Exit(c)
		}); n != 0 {
			t.Errorf("%s %v: %v allocs per Check+Exit, want 0", c.Resource, c.Args, n)
		}
	}
}
