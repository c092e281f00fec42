package param_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
	"github.com/rulesync/rulesync/engine/param"
)

func paramRule(resource string, grade param.Grade, count float64) param.Rule {
	r := param.DefaultRule()
	r.Resource = resource
	r.Grade = grade
	r.Count = count
	return r
}

// TestEngineReleasesSlotWhenFlowBlocks goes through the engine: a call that
// passes the thread-grade param rule but is blocked by a later flow rule must
// not keep its concurrency slot.
func TestEngineReleasesSlotWhenFlowBlocks(t *testing.T) {
	e := engine.New(engine.WithClock(stat.NewManualClock(1_000_000)))
	defer e.Close()
	const res = "GET:/items"
	if rep := e.Param().Load([]param.Rule{paramRule(res, param.GradeThread, 1)}); rep.Loaded != 1 {
		t.Fatalf("param load: %+v", rep)
	}
	fr := flow.DefaultRule()
	fr.Resource = res
	fr.Count = 1 // one pass per second; the second call is blocked by flow
	if rep := e.Flow().Load([]flow.Rule{fr}); rep.Loaded != 1 {
		t.Fatalf("flow load: %+v", rep)
	}
	ctx := context.Background()
	first, err := e.Entry(ctx, res, engine.WithArgs(7))
	if err != nil {
		t.Fatalf("first call blocked: %v", err)
	}
	first.Exit()

	_, err = e.Entry(ctx, res, engine.WithArgs(7))
	var be *base.BlockError
	if !errors.As(err, &be) || be.Family != base.FamilyFlow {
		t.Fatalf("second call: %v, want a flow block", err)
	}
	// Had the flow-blocked call kept its param slot, value 7 would now be at its
	// limit of 1 and the param check alone would block it.
	c := &kernel.Context{Resource: res, Args: []any{7}, Count: 1}
	if be := e.Param().Check(c); be != nil {
		t.Fatalf("param slot leaked by the flow-blocked call: %v", be)
	}
	e.Param().Exit(c)
}

func BenchmarkEngineEntryExit(b *testing.B) {
	const res = "GET:/orders"
	for _, tt := range []struct {
		name  string
		rules []param.Rule
	}{
		{"no-param-rule", nil},
		{"qps-rule/int-arg", []param.Rule{paramRule(res, param.GradeQPS, 1e12)}},
		{"thread-rule/int-arg", []param.Rule{paramRule(res, param.GradeThread, 1e12)}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			e := engine.New()
			defer e.Close()
			e.Param().Load(tt.rules)
			ctx := context.Background()
			uid := any(42) // boxed once, as a caller holding an id would
			b.Run("args-slice", func(b *testing.B) {
				args := []any{uid} // built once: WithArgs(args...) does not allocate
				b.ReportAllocs()
				for b.Loop() {
					en, err := e.Entry(ctx, res, engine.WithArgs(args...))
					if err != nil {
						b.Fatal(err)
					}
					en.Exit()
				}
			})
			b.Run("args-variadic", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					// The variadic slice outlives the call in the pooled entry: 1 alloc.
					en, err := e.Entry(ctx, res, engine.WithArgs(uid))
					if err != nil {
						b.Fatal(err)
					}
					en.Exit()
				}
			})
		})
	}
}
