//go:build !race

package engine_test

import (
	"context"
	"testing"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/flow"
)

// TestPassPathDoesNotAllocate holds the engine to its budget of zero
// allocations per passed call (the race detector allocates, hence the build tag).
func TestPassPathDoesNotAllocate(t *testing.T) {
	e, _ := newEngine(t)
	warm := qps("warm", 1e12)
	warm.ControlBehavior = base.BehaviorWarmUp
	re := qps("re.*", 1e12)
	re.Regex = true
	e.Flow().Load([]flow.Rule{qps("res", 1e12), warm, re})
	ctx := engine.WithEntrance(engine.WithOrigin(context.Background(), "appA"), "web")
	for _, res := range []string{"res", "warm", "regex-matched", "no-rule"} {
		// Warm the pools and caches first: the first call on a resource creates its nodes.
		en, err := e.Entry(ctx, res, engine.Inbound())
		if err != nil {
			t.Fatal(err)
		}
		en.Exit()
		allocs := testing.AllocsPerRun(1000, func() {
			en, err := e.Entry(ctx, res, engine.Inbound(), engine.WithCount(1))
			if err != nil {
				t.Fatal(err)
			}
			en.Exit(engine.WithError(nil))
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Entry+Exit, want 0", res, allocs)
		}
		allocs = testing.AllocsPerRun(1000, func() {
			en, err := e.Entry(context.Background(), res, engine.Inbound(), engine.Origin("appB"))
			if err != nil {
				t.Fatal(err)
			}
			en.Exit()
		})
		if allocs != 0 {
			t.Errorf("%s with engine.Origin: %v allocations per Entry+Exit, want 0", res, allocs)
		}
	}
}
