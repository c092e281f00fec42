package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/internal/stat"
	"github.com/rulesync/rulesync/engine/system"
)

// fakeSampler reports fixed system measures.
type fakeSampler struct{ load, cpu float64 }

func (f fakeSampler) Load1() float64    { return f.load }
func (f fakeSampler) CPUUsage() float64 { return f.cpu }

func TestSystemRulesCoverInboundOnly(t *testing.T) {
	clock := stat.NewManualClock(start)
	e := engine.New(engine.WithClock(clock), engine.WithSystemSampler(fakeSampler{load: 0.1, cpu: 0.1}))
	defer e.Close()
	r := system.DefaultRule()
	r.QPS = 2
	e.System().Load([]system.Rule{r})

	ctx := context.Background()
	for range 2 {
		en, err := e.Entry(ctx, "res", engine.Inbound())
		if err != nil {
			t.Fatal(err)
		}
		en.Exit()
	}
	_, err := e.Entry(ctx, "res", engine.Inbound())
	var be *engine.BlockError
	if !errors.As(err, &be) || be.Family != base.FamilySystem {
		t.Fatalf("3rd inbound call: err = %v, want a system block", err)
	}
	en, err := e.Entry(ctx, "res")
	if err != nil {
		t.Fatalf("outbound call blocked by a system rule: %v", err)
	}
	en.Exit()
}

func TestDegradeSeesExitErrors(t *testing.T) {
	e, clock := newEngine(t)
	r := degrade.DefaultRule()
	r.Resource = "res"
	r.Grade = degrade.GradeExceptionCount
	r.Count = 2
	r.TimeWindow = 10
	r.MinRequestAmount = 1
	if rep := e.Degrade().Load([]degrade.Rule{r}); len(rep.Rejected) > 0 {
		t.Fatal(rep.Rejected)
	}
	boom := errors.New("boom")
	ctx := context.Background()
	for i := range 3 {
		en, err := e.Entry(ctx, "res")
		if err != nil {
			t.Fatalf("call %d blocked before the breaker could open: %v", i, err)
		}
		clock.Advance(time.Millisecond)
		en.Exit(engine.WithError(boom))
	}
	_, err := e.Entry(ctx, "res")
	var be *engine.BlockError
	if !errors.As(err, &be) || be.Family != base.FamilyDegrade {
		t.Fatalf("after 3 errors over a count of 2: err = %v, want a degrade block", err)
	}
}
