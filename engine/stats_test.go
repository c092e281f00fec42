package engine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
)

// The public statistics view reports what the counters hold, and a user can
// tell a BlockError's family with names of package engine alone.
func TestResourceViewAndFamilies(t *testing.T) {
	clock := engine.NewManualClock(start)
	e := engine.New(engine.WithClock(clock))
	defer e.Close()
	if rep := e.Flow().Load([]flow.Rule{qps("limited", 2)}); len(rep.Rejected) != 0 {
		t.Fatal(rep.Rejected)
	}
	var _ engine.LoadReport = e.Flow().Load([]flow.Rule{qps("limited", 2)})

	ctx := context.Background()
	for i := range 3 {
		en, err := e.Entry(ctx, "limited", engine.Inbound())
		if i == 2 {
			var be *engine.BlockError
			if !errors.As(err, &be) || be.Family != engine.FamilyFlow {
				t.Fatalf("3rd call: %v, want a flow block", err)
			}
			var f engine.Family = be.Family
			if f == engine.FamilyDegrade || f == engine.FamilyGatewayAPI {
				t.Fatal("families compare equal")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Millisecond)
		if i == 0 {
			en.Exit(engine.WithError(errors.New("boom")))
		} else {
			en.Exit()
		}
	}
	inFlight, err := e.Entry(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	defer inFlight.Exit()

	rv, ok := e.Resource("limited")
	if !ok || rv.Name() != "limited" {
		t.Fatalf("Resource(limited) = %v %v", rv.Name(), ok)
	}
	want := engine.ResourceStats{Resource: "limited", AtMs: clock.NowMs(), PassQPS: 2, BlockQPS: 1,
		SuccessQPS: 2, ErrorQPS: 1, AvgRTMs: 10, Concurrency: 0}
	if got := rv.Stats(); got != want {
		t.Fatalf("Stats() =\n %+v, want\n %+v", got, want)
	}
	if got := e.InboundStats(); got.Resource != engine.InboundResource || got.PassQPS != 2 || got.BlockQPS != 1 {
		t.Fatalf("InboundStats() = %+v", got)
	}
	var names []string
	for r := range e.Resources() {
		names = append(names, r.Name())
		if r.Name() == "other" && r.Stats().Concurrency != 1 {
			t.Errorf("other: concurrency %d, want 1", r.Stats().Concurrency)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"limited", "other"}) {
		t.Fatalf("Resources() = %v", names)
	}
	for range e.Resources() {
		break // stopping early must not panic
	}
	if _, ok := e.Resource("never"); ok {
		t.Fatal("a resource without calls has a view")
	}
	if (engine.ResourceView{}).Stats() != (engine.ResourceStats{}) {
		t.Fatal("the zero view is not empty")
	}
}
