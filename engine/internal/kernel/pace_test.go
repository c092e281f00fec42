package kernel

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func TestReserveSpacesCalls(t *testing.T) {
	var latest atomic.Int64
	latest.Store(math.MinInt64 / 4)
	const cost, maxWait = 100, 250
	for i, want := range []int64{0, 100, 200} {
		wait, ok := Reserve(&latest, 1000, cost, maxWait)
		if !ok || wait != want {
			t.Fatalf("call %d: wait %d ok %v, want %d true", i, wait, ok, want)
		}
	}
	if wait, ok := Reserve(&latest, 1000, cost, maxWait); ok || wait != 300 {
		t.Fatalf("over the queue: wait %d ok %v, want 300 false", wait, ok)
	}
	// A refused call reserved nothing: at +50 the next slot is +200 from there.
	if wait, ok := Reserve(&latest, 1050, cost, maxWait); !ok || wait != 250 {
		t.Fatalf("wait exactly maxWait: %d %v, want 250 true", wait, ok)
	}
	// After an idle spell the pace restarts from now: no saved-up burst.
	if wait, ok := Reserve(&latest, 10_000, cost, maxWait); !ok || wait != 0 {
		t.Fatalf("after idle: %d %v", wait, ok)
	}
	if wait, ok := Reserve(&latest, 10_000, cost, maxWait); !ok || wait != 100 {
		t.Fatalf("second after idle: %d %v, want 100", wait, ok)
	}
}

// Concurrent callers each get a slot of their own.
func TestReserveConcurrentSlotsAreDistinct(t *testing.T) {
	var latest atomic.Int64
	latest.Store(math.MinInt64 / 4)
	const g, per = 8, 50
	waits := make([][]int64, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() {
			for range per {
				w, ok := Reserve(&latest, 0, 10, math.MaxInt64)
				if !ok {
					t.Error("refused with an unbounded queue")
				}
				waits[i] = append(waits[i], w)
			}
		})
	}
	wg.Wait()
	all := slices.Concat(waits...)
	slices.Sort(all)
	for i, w := range all {
		if w != int64(i)*10 {
			t.Fatalf("slot %d waits %d, want %d (slots %v...)", i, w, i*10, all[:min(len(all), 20)])
		}
	}
}
