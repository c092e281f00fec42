package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// At and ExitAt replace the engine's own clock reads: the response time comes
// from the two readings given, not from the clock.
func TestAtAndExitAtSetTheCallsTimes(t *testing.T) {
	clock := stat.NewManualClock(50_000)
	e := engine.New(engine.WithClock(clock))
	defer e.Close()
	start := clock.NowNanos() - int64(300*time.Millisecond) // a reading taken earlier
	en, err := e.Entry(context.Background(), "r", engine.At(start))
	if err != nil {
		t.Fatal(err)
	}
	en.Exit(engine.ExitAt(start + int64(40*time.Millisecond)))
	node := engine.RegistryOf(e).Lookup("r").Node
	if got := node.AvgRT(clock.NowMs()); got != 40 {
		t.Fatalf("avg RT = %v ms, want the 40 ms between At and ExitAt", got)
	}
	if got := node.PassQPS(clock.NowMs()); got != 1 {
		t.Fatalf("pass qps = %v, want 1", got)
	}

	// Without them the clock is read: 25 ms pass between Entry and Exit.
	en, err = e.Entry(context.Background(), "r2")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(25 * time.Millisecond)
	en.Exit()
	if got := engine.RegistryOf(e).Lookup("r2").Node.AvgRT(clock.NowMs()); got != 25 {
		t.Fatalf("avg RT = %v ms, want 25", got)
	}
}

func TestOriginAndEntranceKeepEachOther(t *testing.T) {
	ctx := engine.WithEntrance(engine.WithOrigin(context.Background(), "appA"), "entry-1")
	ctx = engine.WithOrigin(ctx, "appB")
	if o, en := engine.OriginFrom(ctx), engine.EntranceFrom(ctx); o != "appB" || en != "entry-1" {
		t.Fatalf("origin %q entrance %q, want appB and entry-1", o, en)
	}
	if engine.OriginFrom(context.Background()) != "" || engine.EntranceFrom(context.Background()) != "" {
		t.Fatal("empty context has a caller")
	}
}
