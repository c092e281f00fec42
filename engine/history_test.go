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

// unixStart is a Unix time in ms, as a ManualClock reads for the history tests.
const unixStart = 1_700_000_000_000

// call enters res n times (one blocked by a limit of 3 per second when
// n > 3), each call lasting rt, with err on the first.
func call(t *testing.T, e *engine.Engine, clock *engine.ManualClock, ctx context.Context, res string, n int, rt time.Duration) {
	t.Helper()
	for i := range n {
		en, err := e.Entry(ctx, res, engine.Inbound())
		if err != nil {
			continue
		}
		clock.Advance(rt)
		if i == 0 {
			en.Exit(engine.WithError(errors.New("boom")))
		} else {
			en.Exit()
		}
	}
}

func TestHistoryKeepsEverySecond(t *testing.T) {
	clock := engine.NewManualClock(unixStart - 5_000)
	e := engine.New(engine.WithClock(clock))
	defer e.Close()
	e.Flow().Load([]flow.Rule{qps("r", 3)})
	ctx := context.Background()
	if e.HistorySeconds() != 0 {
		t.Fatal("history before KeepHistory")
	}
	call(t, e, clock, ctx, "r", 1, 0) // the resource exists before KeepHistory
	e.KeepHistory(30)
	if e.HistorySeconds() != 30 {
		t.Fatalf("HistorySeconds = %d", e.HistorySeconds())
	}
	// Second k gets k%5+1 calls of 2 ms, the first with an error; the rule
	// admits 3 per second. Seconds 7 and 8 are quiet.
	for k := range 25 {
		if k == 7 || k == 8 {
			continue
		}
		clock.Set(unixStart + int64(k)*1000 + 100)
		call(t, e, clock, ctx, "r", k%5+1, 2*time.Millisecond)
	}
	clock.Set(unixStart + 26_500)
	rv, _ := e.Resource("r")
	hist := rv.History(unixStart, unixStart+30_000)
	var got []int64
	for i, s := range hist {
		if s.StartMs%1000 != 0 || i > 0 && s.StartMs <= hist[i-1].StartMs {
			t.Fatalf("history out of order or unaligned: %+v", hist)
		}
		k := (s.StartMs - unixStart) / 1000
		got = append(got, k)
		n := k%5 + 1
		if s.Pass != min(n, 3) || s.Block != n-min(n, 3) {
			t.Fatalf("second %d: %+v, want %d of %d calls admitted", k, s, min(n, 3), n)
		}
		if s.Success != s.Pass || s.Error != 1 || s.RTMs != 2*s.Success {
			t.Fatalf("second %d: %+v, want every admitted call completed in 2 ms, one with an error", k, s)
		}
	}
	var want []int64
	for k := range int64(25) {
		if k != 7 && k != 8 {
			want = append(want, k)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("seconds %v, want %v", got, want)
	}
	// A range picks seconds by their start: one that starts mid-second skips
	// that second; the current second is not over, so it is never listed.
	if got := starts(rv.History(unixStart+3_500, unixStart+6_000)); !slices.Equal(got, []int64{4, 5, 6}) {
		t.Fatalf("History(3.5 s, 6 s) = seconds %v, want 4 5 6", got)
	}
	call(t, e, clock, ctx, "r", 1, 0)
	if got := starts(rv.History(unixStart+26_000, unixStart+27_000)); len(got) != 0 {
		t.Fatalf("the current second was listed: %v", got)
	}
	// The ring forgets what is older than its length.
	clock.Set(unixStart + 50_000)
	last := []int64{21, 22, 23, 24, 26}
	if got := starts(rv.History(unixStart, unixStart+60_000)); !slices.Equal(got, last) {
		t.Fatalf("after 50 s the history holds %v, want %v", got, last)
	}
	// Inbound calls have a history of their own.
	if got := starts(e.InboundHistory(unixStart, unixStart+60_000)); !slices.Equal(got, last) {
		t.Fatalf("inbound history %v, want %v", got, last)
	}
}

func starts(h []engine.SecondStats) []int64 {
	var out []int64
	for _, s := range h {
		out = append(out, (s.StartMs-unixStart)/1000)
	}
	return out
}

// LastMinute sums the last 60 seconds, the current one included.
func TestLastMinute(t *testing.T) {
	clock := engine.NewManualClock(unixStart)
	e := engine.New(engine.WithClock(clock))
	defer e.Close()
	e.KeepHistory(70)
	ctx := context.Background()
	for k := range 90 {
		clock.Set(unixStart + int64(k)*1000 + 300)
		call(t, e, clock, ctx, "m", 2, time.Millisecond)
		clock.Set(unixStart + int64(k)*1000 + 700)
		call(t, e, clock, ctx, "m", 1, time.Millisecond)
	}
	rv, _ := e.Resource("m")
	got := rv.LastMinute()
	// Seconds 30..89: 60 seconds of 3 calls, 2 of them with an error.
	if got != (engine.Totals{Pass: 180, Success: 180, Error: 120}) {
		t.Fatalf("LastMinute = %+v", got)
	}
}

// The call tree puts each resource under the entrances it was entered
// through, and calls without one under the default entrance.
func TestCallTree(t *testing.T) {
	clock := engine.NewManualClock(unixStart)
	e := engine.New(engine.WithClock(clock))
	defer e.Close()
	e.KeepHistory(61)
	ctx := context.Background()
	web := engine.WithEntrance(ctx, "web")
	call(t, e, clock, ctx, "a", 2, time.Millisecond)
	call(t, e, clock, web, "a", 3, time.Millisecond)
	call(t, e, clock, web, "b", 1, time.Millisecond)
	hold, err := e.Entry(web, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Exit()
	root := e.CallTree()
	if root.Name != engine.TreeRoot || len(root.Children) != 2 {
		t.Fatalf("root %+v", root)
	}
	def, w := root.Children[0], root.Children[1]
	if def.Name != engine.DefaultEntrance || w.Name != "web" {
		t.Fatalf("entrances %q %q", def.Name, w.Name)
	}
	if len(def.Children) != 1 || def.Children[0].Name != "a" || def.Children[0].Stats.PassQPS != 2 {
		t.Fatalf("default entrance: %+v", def.Children)
	}
	if len(w.Children) != 2 || w.Children[0].Name != "a" || w.Children[0].Stats.PassQPS != 3 ||
		w.Children[1].Name != "b" || w.Children[1].Stats.PassQPS != 2 || w.Children[1].Stats.Concurrency != 1 {
		t.Fatalf("web entrance: %+v", w.Children)
	}
	if w.Stats.PassQPS != 5 || w.LastMinute.Pass != 5 || w.LastMinute.Error != 2 || root.Stats.PassQPS != 7 {
		t.Fatalf("sums: web %+v %+v, root %+v", w.Stats, w.LastMinute, root.Stats)
	}
	if d := def.Children[0].LastMinute; d.Pass != 2 || d.Success != 2 || d.Error != 1 {
		t.Fatalf("default entrance's a over the minute: %+v", d)
	}
}

// With the default clock, seconds of history are wall-clock seconds.
func TestHistoryWallClock(t *testing.T) {
	e := engine.New()
	defer e.Close()
	e.KeepHistory(10)
	before := time.Now().UnixMilli()
	en, err := e.Entry(context.Background(), "w")
	if err != nil {
		t.Fatal(err)
	}
	en.Exit()
	if got := e.UnixMilli(e.Clock().NowMs()); got < before-1 || got > time.Now().UnixMilli()+1 {
		t.Fatalf("UnixMilli(now) = %d, wall clock %d", got, before)
	}
	// Wait for the second to end, reading the engine's clock (it moves
	// with the wall clock, so this is not a timing assertion).
	first := e.Clock().NowMs() / 1000
	for e.Clock().NowMs()/1000 == first {
		time.Sleep(20 * time.Millisecond)
	}
	rv, _ := e.Resource("w")
	h := rv.History(0, time.Now().UnixMilli())
	if len(h) != 1 || h[0].StartMs%1000 != 0 || h[0].StartMs > before || h[0].StartMs+1000 <= before {
		t.Fatalf("history %+v, want the one second holding %d", h, before)
	}
}

// Right after the clock's start there are fewer seconds behind than the
// history holds.
func TestHistoryNearClockStart(t *testing.T) {
	clock := engine.NewManualClock(300)
	e := engine.New(engine.WithClock(clock))
	defer e.Close()
	e.KeepHistory(65)
	call(t, e, clock, context.Background(), "early", 2, time.Millisecond)
	rv, _ := e.Resource("early")
	if m := rv.LastMinute(); m.Pass != 2 {
		t.Fatalf("LastMinute = %+v", m)
	}
	if tree := e.CallTree(); len(tree.Children) != 1 {
		t.Fatalf("tree %+v", tree)
	}
	clock.Set(2500)
	if h := rv.History(0, 5000); len(h) != 1 || h[0].StartMs != 0 || h[0].Pass != 2 {
		t.Fatalf("history %+v", h)
	}
}
