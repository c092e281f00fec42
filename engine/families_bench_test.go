package engine_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/engine/system"
)

// passRules loads, into e, one rule of each named family on resource "bench",
// each with thresholds that a benchmark never reaches.
func passRules(b *testing.B, e *engine.Engine, families ...string) {
	b.Helper()
	for _, f := range families {
		switch f {
		case "flow":
			mustLoad(b, f, e.Flow().Load([]flow.Rule{qps("bench", 1e12)}).Loaded)
		case "degrade":
			r := degrade.DefaultRule()
			r.Resource, r.Grade, r.Count, r.TimeWindow = "bench", degrade.GradeExceptionCount, 1e12, 10
			mustLoad(b, f, e.Degrade().Load([]degrade.Rule{r}).Loaded)
		case "system":
			r := system.DefaultRule()
			r.QPS, r.MaxThread = 1e12, 1e9
			mustLoad(b, f, e.System().Load([]system.Rule{r}).Loaded)
		case "authority":
			mustLoad(b, f, e.Authority().Load([]authority.Rule{{Resource: "bench", LimitApp: "appB", Strategy: authority.StrategyBlack}}).Loaded)
		case "param":
			r := param.DefaultRule()
			r.Resource, r.ParamIdx, r.Count = "bench", 0, 1e12
			mustLoad(b, f, e.Param().Load([]param.Rule{r}).Loaded)
		default:
			b.Fatalf("unknown family %q", f)
		}
	}
}

func mustLoad(b *testing.B, family string, loaded int) {
	b.Helper()
	if loaded != 1 {
		b.Fatalf("%s: loaded %d rules, want 1", family, loaded)
	}
}

// BenchmarkFamilyEntryExit is Entry+Exit on the pass path of an inbound call
// from origin appA with one int argument, with one rule of one family, and
// with one rule of every family loaded together.
func BenchmarkFamilyEntryExit(b *testing.B) {
	cases := [][]string{
		{"flow"}, {"degrade"}, {"system"}, {"authority"}, {"param"},
		{"flow", "degrade", "system", "authority", "param"},
	}
	for _, fams := range cases {
		name := fams[0]
		if len(fams) > 1 {
			name = "all"
		}
		b.Run(name, func(b *testing.B) {
			e := engine.New()
			b.Cleanup(func() { _ = e.Close() })
			passRules(b, e, fams...)
			ctx := engine.WithOrigin(context.Background(), "appA")
			args := []any{int64(42)}
			opts := []engine.EntryOption{engine.Inbound(), engine.WithArgs(args...)}
			b.ReportAllocs()
			for b.Loop() {
				en, err := e.Entry(ctx, "bench", opts...)
				if err != nil {
					b.Fatal(err)
				}
				en.Exit()
			}
		})
	}
}

// BenchmarkFlowReload10k is the flow manager's share of applying 10,000 rules:
// a first load, and a reload of equal rules that keeps every rule's state.
func BenchmarkFlowReload10k(b *testing.B) {
	rules := make([]flow.Rule, 10_000)
	for i := range rules {
		rules[i] = qps("res-"+strconv.Itoa(i), float64(i+1))
	}
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e := engine.New()
			if rep := e.Flow().Load(rules); rep.Loaded != len(rules) {
				b.Fatalf("loaded %d", rep.Loaded)
			}
			e.Close()
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		e := engine.New()
		defer e.Close()
		e.Flow().Load(rules)
		b.ReportAllocs()
		for b.Loop() {
			if rep := e.Flow().Load(rules); rep.Kept != len(rules) {
				b.Fatalf("kept %d of %d", rep.Kept, len(rules))
			}
		}
	})
}
