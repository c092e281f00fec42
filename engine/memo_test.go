package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/param"
)

// TestReloadReplacesMemoizedLookups checks that a resource whose rules were
// memoized in its node (kernel.Lookup) sees every reload at once: blocking
// rules, then none, then blocking rules again, for every family and for
// regex resources. A memo that ignored the rule generation would keep the
// first answer.
func TestReloadReplacesMemoizedLookups(t *testing.T) {
	ctx := engine.WithOrigin(context.Background(), "bad")
	cases := []struct {
		name   string
		family base.Family
		block  func(t *testing.T, e *engine.Engine, regex bool)
		clear  func(e *engine.Engine)
		args   func(e *engine.Engine) []any
	}{
		{
			name: "flow", family: base.FamilyFlow,
			block: func(t *testing.T, e *engine.Engine, regex bool) {
				r := flow.DefaultRule()
				r.Resource, r.Regex, r.Count = resourceFor(regex), regex, 0
				requireLoaded(t, e.Flow().Load([]flow.Rule{r}))
			},
			clear: func(e *engine.Engine) { e.Flow().Load(nil) },
		},
		{
			name: "authority", family: base.FamilyAuthority,
			block: func(t *testing.T, e *engine.Engine, regex bool) {
				r := authority.Rule{Resource: resourceFor(regex), Regex: regex, LimitApp: "bad", Strategy: authority.StrategyBlack}
				requireLoaded(t, e.Authority().Load([]authority.Rule{r}))
			},
			clear: func(e *engine.Engine) { e.Authority().Load(nil) },
		},
		{
			name: "param", family: base.FamilyParam,
			block: func(t *testing.T, e *engine.Engine, regex bool) {
				r := param.DefaultRule()
				r.Resource, r.Regex, r.Count = resourceFor(regex), regex, 0
				requireLoaded(t, e.Param().Load([]param.Rule{r}))
			},
			clear: func(e *engine.Engine) { e.Param().Load(nil) },
			args:  func(*engine.Engine) []any { return []any{"v"} },
		},
		{
			name: "gateway", family: base.FamilyGateway,
			block: func(t *testing.T, e *engine.Engine, regex bool) {
				if regex {
					t.Skip("gateway rules name routes and API groups, not patterns")
				}
				r := gateway.DefaultRule()
				r.Resource, r.Count = "res-1", 0
				requireLoaded(t, e.Gateway().Load([]gateway.Rule{r}))
			},
			clear: func(e *engine.Engine) { e.Gateway().Load(nil) },
			args:  func(e *engine.Engine) []any { return e.Gateway().ParseArgs("res-1", nil) },
		},
		{
			name: "degrade", family: base.FamilyDegrade,
			block: func(t *testing.T, e *engine.Engine, regex bool) {
				r := degrade.DefaultRule()
				r.Resource, r.Regex = resourceFor(regex), regex
				r.Grade, r.Count, r.TimeWindow, r.MinRequestAmount = degrade.GradeExceptionCount, 1, 60, 1
				requireLoaded(t, e.Degrade().Load([]degrade.Rule{r}))
				// Two failed calls open the breaker.
				for range 2 {
					en, err := e.Entry(context.Background(), "res-1")
					if err != nil {
						t.Fatalf("degrade: call blocked before the breaker opened: %v", err)
					}
					en.Exit(engine.WithError(errors.New("boom")))
				}
			},
			clear: func(e *engine.Engine) { e.Degrade().Load(nil) },
		},
	}
	for _, tc := range cases {
		for _, regex := range []bool{false, true} {
			name := tc.name
			if regex {
				name += "/regex"
			}
			t.Run(name, func(t *testing.T) {
				e, _ := newEngine(t)
				enter := func() error {
					var opts []engine.EntryOption
					if tc.args != nil {
						opts = append(opts, engine.WithArgs(tc.args(e)...))
					}
					en, err := e.Entry(ctx, "res-1", opts...)
					if err == nil {
						en.Exit()
					}
					return err
				}
				wantBlock := func(step string) {
					t.Helper()
					var be *engine.BlockError
					if err := enter(); !errors.As(err, &be) || be.Family != tc.family {
						t.Fatalf("%s: err = %v, want a %s block", step, err, tc.family)
					}
				}
				if err := enter(); err != nil {
					t.Fatalf("no rules: %v", err)
				}
				tc.block(t, e, regex)
				wantBlock("after loading a blocking rule")
				tc.clear(e)
				if err := enter(); err != nil {
					t.Fatalf("after clearing the rules: %v", err)
				}
				tc.block(t, e, regex)
				wantBlock("after loading the blocking rule again")
			})
		}
	}
}

func resourceFor(regex bool) string {
	if regex {
		return "res-[0-9]+"
	}
	return "res-1"
}

func requireLoaded(t *testing.T, rep base.LoadReport) {
	t.Helper()
	if len(rep.Rejected) > 0 || rep.Loaded == 0 {
		t.Fatalf("load: %+v", rep)
	}
}
