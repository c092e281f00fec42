package param

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// refLRU is a plain LRU used as the model the hot slot must not depart from.
type refLRU struct {
	capacity int
	order    []key // most recent first
}

func (r *refLRU) touch(k key) {
	if i := slices.Index(r.order, k); i >= 0 {
		r.order = slices.Delete(r.order, i, i+1)
	}
	r.order = slices.Insert(r.order, 0, k)
	if len(r.order) > r.capacity {
		r.order = r.order[:r.capacity]
	}
}

// TestHotSlotKeepsLRUOrder drives one LRU shard with a random sequence that
// repeats values (so that many lookups are served by the hot slot) and checks
// after every lookup that the tracked values are exactly those of a plain LRU,
// that a value keeps one state for as long as it is tracked, and that the hot
// slot only ever holds the most recent value.
func TestHotSlotKeepsLRUOrder(t *testing.T) {
	for _, capacity := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(capacity)))
			l := newLRUSet(capacity, 1, nil)
			ref := &refLRU{capacity: capacity}
			states := map[key]*valueState{}
			var prev key
			for step := range 5000 {
				k := intKey(int64(rng.IntN(capacity + 3)))
				if rng.IntN(3) == 0 {
					k = key{kind: kindString, s: fmt.Sprint("s", rng.IntN(3))}
				}
				if step > 0 && rng.IntN(2) == 0 {
					k = prev // runs of one value
				}
				v := l.get(&k, 0, 0)
				if prev, ok := states[k]; ok && slices.Contains(ref.order, k) && prev != v {
					t.Fatalf("step %d: value %v got a second state while tracked", step, k)
				}
				states[k] = v
				ref.touch(k)
				var got []key
				for _, kk := range ref.order {
					if s, _ := l.shards[0].lru.Peek(kk); s != states[kk] {
						t.Fatalf("step %d: LRU holds %p for %v, want %p", step, s, kk, states[kk])
					}
					got = append(got, kk)
				}
				if n := l.shards[0].lru.Len(); n != len(got) {
					t.Fatalf("step %d: LRU tracks %d values, model %d (%v)", step, n, len(got), got)
				}
				// Whatever hot holds is the most recent value; a value used
				// twice in a row is served by it.
				h := l.hot.Load()
				if h != nil && h != states[ref.order[0]] {
					t.Fatalf("step %d: hot slot holds %v, not the most recent value %v", step, h.k, ref.order[0])
				}
				if k == prev && h != v {
					t.Fatalf("step %d: value %v used twice in a row is not hot", step, k)
				}
				prev = k
			}
		})
	}
}

// TestHotSlotNeverHoldsEvictedState checks, while goroutines push values
// through a small LRU (constant eviction), that the state in the hot slot is
// always the one the LRU holds for its value: never a state that was evicted
// (which would give its value two live states once the LRU creates another),
// and that it is the most recent value of its shard.
func TestHotSlotNeverHoldsEvictedState(t *testing.T) {
	l := newLRUSet(4, 2, nil)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for !stop.Load() {
				k := intKey(int64(rng.IntN(12)))
				for range rng.IntN(4) + 1 { // runs, so that the hot slot hits too
					l.get(&k, 0, 0)
				}
			}
		})
	}
	for range 20_000 {
		for i := range l.shards {
			l.shards[i].mu.Lock()
		}
		if h := l.hot.Load(); h != nil {
			if v, ok := l.of(&h.k).lru.Peek(h.k); !ok || v != h {
				stop.Store(true)
				t.Errorf("hot slot holds a state of %v that the LRU does not (LRU: %p, %v)", h.k, v, ok)
			}
			if keys := l.of(&h.k).lru.Keys(); len(keys) == 0 || keys[len(keys)-1] != h.k {
				stop.Store(true)
				t.Errorf("hot slot holds %v, which is not the most recent value of its shard (%v)", h.k, keys)
			}
		}
		n := 0
		for i := range l.shards {
			n += l.shards[i].lru.Len()
		}
		if n > 4 {
			t.Errorf("%d values tracked with a bound of 4", n)
		}
		for i := range l.shards {
			l.shards[i].mu.Unlock()
		}
		if t.Failed() {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
}

// TestExactPassesThroughHotSlot has goroutines alternate between one shared
// value and values of their own, so that the hot slot changes hands all the
// time, on a frozen clock: the shared value must pass exactly count times in
// all, as many times as its bucket holds, and each private value likewise.
func TestExactPassesThroughHotSlot(t *testing.T) {
	const (
		count   = 500
		workers = 4
		calls   = 1500 // per worker and value
		private = 3    // values per worker
	)
	m, _ := newTestManager(t, WithMaxTrackedValues(1+workers*private))
	mustLoad(t, m, qpsRule(count))
	var shared atomic.Int64
	own := make([][private]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				for p := range private {
					if m.Check(call("shared")) == nil {
						shared.Add(1)
					}
					if m.Check(call(fmt.Sprint("w", w, "-", p))) == nil {
						own[w][p]++
					}
				}
				_ = i
			}
		})
	}
	wg.Wait()
	if got := shared.Load(); got != count {
		t.Errorf("shared value passed %d times, bucket holds %d", got, count)
	}
	for w := range workers {
		for p := range private {
			if own[w][p] != count {
				t.Errorf("value w%d-%d passed %d times, bucket holds %d", w, p, own[w][p], count)
			}
		}
	}
}

// TestThreadSlotsThroughHotSlot checks that Exit finds the state Check took a
// slot from, whether the hot slot or the LRU serves it: after every call has
// exited, each value can take exactly limit slots again.
func TestThreadSlotsThroughHotSlot(t *testing.T) {
	const limit = 3
	m, _ := newTestManager(t, WithMaxTrackedValues(64))
	r := qpsRule(limit)
	r.Grade = GradeThread
	mustLoad(t, m, r)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				v := (w*7 + i/3) % 5 // runs of one value, five values in turn
				c := call(v)
				if m.Check(c) == nil {
					m.Exit(c)
				}
			}
		})
	}
	wg.Wait()
	for v := range 5 {
		if got := passes(m, limit+1, v); got != limit {
			t.Errorf("value %d: %d of %d calls passed after all exited, want %d", v, got, limit+1, limit)
		}
	}
}

func TestItemTable(t *testing.T) {
	for _, n := range []int{1, maxSmallItems, maxSmallItems + 1, 3 * maxSmallItems} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := qpsRule(1)
			for i := range n {
				r.ParamFlowItemList = append(r.ParamFlowItemList, Item{Object: fmt.Sprint(i), ClassType: "int", Count: int64(100 + i)})
			}
			// A later item for value 0 wins, also once the table is a map.
			r.ParamFlowItemList = append(r.ParamFlowItemList, Item{Object: "0", ClassType: "long", Count: 7})
			tab, dropped := compileItems(r)
			if len(dropped) != 0 {
				t.Fatal(dropped)
			}
			if big := tab.big != nil; big != (n > maxSmallItems) {
				t.Errorf("%d items: map used = %v", n, big)
			}
			if got, ok := tab.lookup(new(intKey(0))); !ok || got != 7 {
				t.Errorf("value 0: %d, %v; want 7 (the later item)", got, ok)
			}
			for i := 1; i < n; i++ {
				if got, ok := tab.lookup(new(intKey(int64(i)))); !ok || got != int64(100+i) {
					t.Errorf("value %d: %d, %v; want %d", i, got, ok, 100+i)
				}
			}
			for _, k := range []key{intKey(int64(n)), {kind: kindString, s: "0"}, uintKey(1 << 63), boolKey(false)} {
				if got, ok := tab.lookup(&k); ok {
					t.Errorf("value %v without an item found %d", k, got)
				}
			}
		})
	}
}
