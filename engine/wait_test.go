package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/param"
)

// wantGaveUp checks that err is a block of family caused by ctxErr.
func wantGaveUp(t *testing.T, err error, family base.Family, ctxErr error) {
	t.Helper()
	var be *engine.BlockError
	if !errors.As(err, &be) || be.Family != family {
		t.Fatalf("err = %v, want a %s block", err, family)
	}
	if !errors.Is(err, ctxErr) || !errors.Is(err, engine.ErrBlocked) {
		t.Fatalf("err = %v (cause %v): want errors.Is both %v and ErrBlocked", err, be.Cause, ctxErr)
	}
}

// TestWaitsEndWithTheContext checks every place where a call waits in line:
// with the caller's context already ended, the call is blocked with the
// context's error instead of waiting (the manual clock would otherwise let it
// pass after advancing).
func TestWaitsEndWithTheContext(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	t.Run("flow rate limiter", func(t *testing.T) {
		e, _ := newEngine(t)
		r := qps("res", 10)
		r.ControlBehavior, r.MaxQueueingTimeMs = base.BehaviorRateLimiter, 1000
		e.Flow().Load([]flow.Rule{r})
		en, err := e.Entry(context.Background(), "res")
		if err != nil {
			t.Fatal(err)
		}
		en.Exit()
		// The next call must wait 100 ms for its turn.
		_, err = e.Entry(canceled, "res")
		wantGaveUp(t, err, base.FamilyFlow, context.Canceled)
		// A live context still waits and passes.
		en, err = e.Entry(context.Background(), "res")
		if err != nil {
			t.Fatalf("live context: %v", err)
		}
		en.Exit()
	})

	t.Run("prioritized borrowing", func(t *testing.T) {
		e, clock := newEngine(t)
		e.Flow().Load([]flow.Rule{qps("res", 1)})
		en, err := e.Entry(context.Background(), "res")
		if err != nil {
			t.Fatal(err)
		}
		en.Exit()
		clock.Advance(700 * time.Millisecond)
		_, err = e.Entry(canceled, "res", engine.Prioritized())
		wantGaveUp(t, err, base.FamilyFlow, context.Canceled)
	})

	t.Run("param rate limiter", func(t *testing.T) {
		e, _ := newEngine(t)
		r := param.DefaultRule()
		r.Resource, r.Count, r.ControlBehavior, r.MaxQueueingTimeMs = "res", 10, base.BehaviorRateLimiter, 1000
		if rep := e.Param().Load([]param.Rule{r}); rep.Loaded != 1 {
			t.Fatalf("Load: %+v", rep)
		}
		args := []any{"u1"}
		en, err := e.Entry(context.Background(), "res", engine.WithArgs(args...))
		if err != nil {
			t.Fatal(err)
		}
		en.Exit()
		_, err = e.Entry(canceled, "res", engine.WithArgs(args...))
		wantGaveUp(t, err, base.FamilyParam, context.Canceled)
	})
}

// TestWaitEndsWhenTheContextEnds checks, on the system clock, that a call
// waiting 10 s in line returns when its context's deadline passes. An
// implementation that ignored the context would let the call pass after
// the whole wait.
func TestWaitEndsWhenTheContextEnds(t *testing.T) {
	e := engine.New()
	t.Cleanup(func() { _ = e.Close() })
	r := qps("res", 0.1) // one call per 10 s
	r.ControlBehavior, r.MaxQueueingTimeMs = base.BehaviorRateLimiter, 20_000
	e.Flow().Load([]flow.Rule{r})
	en, err := e.Entry(context.Background(), "res")
	if err != nil {
		t.Fatal(err)
	}
	en.Exit()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = e.Entry(ctx, "res")
	wantGaveUp(t, err, base.FamilyFlow, context.DeadlineExceeded)
}
