package stat

import (
	"sync"
	"sync/atomic"
)

// Second is what a History holds for one second: the events counted in the
// buckets that started in it, and the concurrency seen when they were recorded.
type Second struct {
	StartMs     int64 // start of the second, a multiple of 1000
	Counts      [numEvents]int64
	Concurrency int64 // the larger of the concurrency readings taken as its buckets were recorded
}

// Count returns the count of e in the second.
func (s *Second) Count(e Event) int64 { return s.Counts[e] }

// Empty reports whether nothing was counted in the second.
func (s *Second) Empty() bool {
	for _, c := range s.Counts {
		if c != 0 {
			return false
		}
	}
	return true
}

// History keeps per-second totals of a Window's buckets once they are over,
// for readers that look back further than the window (a dashboard's charts).
//
// It costs the hot path nothing: a bucket is recorded when the window replaces
// it with a newer one, which happens once per bucket length and already
// allocates, or when a reader asks for history and finds it over. Both take
// mu, so a bucket is recorded exactly once. A call that read the clock just
// before a bucket ended and counts into it just after it was recorded is lost
// to the history (not to the window), as in Sentinel.
type History struct {
	mu      sync.Mutex
	secs    []Second // ring, indexed by second
	threads *atomic.Int64
}

// newHistory returns a history of the last n seconds; threads, if not nil, is
// read as the concurrency when a bucket is recorded.
func newHistory(n int, threads *atomic.Int64) *History {
	return &History{secs: make([]Second, n), threads: threads}
}

// Len is how many seconds the history holds.
func (h *History) Len() int { return len(h.secs) }

// record adds b's counts to its second. Call with h.mu held.
func (h *History) record(b *bucket) {
	if b.recorded {
		return
	}
	b.recorded = true
	start := b.start - b.start%1000
	s := &h.secs[(start/1000)%int64(len(h.secs))]
	if s.StartMs != start {
		if s.StartMs > start {
			return // the ring moved past it (a clock that went backwards)
		}
		*s = Second{StartMs: start}
	}
	for e := range s.Counts {
		s.Counts[e] += b.counts[e].Load()
	}
	if h.threads != nil {
		s.Concurrency = max(s.Concurrency, h.threads.Load())
	}
}

// EnableHistory makes w keep the per-second totals of its last n seconds
// (n >= 1). It is for windows of Node's per-second shape (buckets that divide
// a second); threads, if not nil, is read as the concurrency. Calling it
// again keeps the larger history.
func (w *Window) EnableHistory(n int, threads *atomic.Int64) {
	if n < 1 || 1000%w.bucketMs != 0 {
		return
	}
	for {
		old := w.hist.Load()
		if old != nil && old.Len() >= n {
			return
		}
		if w.hist.CompareAndSwap(old, newHistory(n, threads)) {
			return
		}
	}
}

// HistoryLen is how many seconds of history w keeps (0: none).
func (w *Window) HistoryLen() int {
	if h := w.hist.Load(); h != nil {
		return h.Len()
	}
	return 0
}

// rotate replaces the stale bucket of slot with one starting at start while
// holding the history's lock, recording the stale one first.
func (w *Window) rotate(h *History, slot *atomic.Pointer[bucket], start int64) *bucket {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := slot.Load()
	if b != nil && b.start >= start {
		if b.start == start {
			w.latest.Store(b)
		}
		return b // rotated by another caller meanwhile (or a newer bucket)
	}
	if b != nil {
		h.record(b)
	}
	nb := newBucket(start)
	slot.Store(nb)
	w.latest.Store(nb)
	return nb
}

// Seconds calls fn, in time order, for every second of the history that
// ended at or before nowMs and lies in [fromMs, toMs], oldest first, skipping
// seconds in which nothing was counted. Buckets of w that are over but not
// yet replaced are recorded first, so that a quiet resource's last seconds
// show too.
func (w *Window) Seconds(nowMs, fromMs, toMs int64, fn func(Second)) {
	h := w.hist.Load()
	if h == nil {
		return
	}
	h.mu.Lock()
	for i := range w.buckets {
		if b := w.buckets[i].Load(); b != nil && b.start+w.bucketMs <= nowMs {
			h.record(b)
		}
	}
	n := int64(len(h.secs))
	cur := nowMs - nowMs%1000
	first := max(fromMs, 0)
	if r := first % 1000; r != 0 {
		first += 1000 - r // a second counts when its start is in the range
	}
	lo := max(first, cur-(n-1)*1000)
	out := make([]Second, 0, 8)
	for start := lo; start < cur && start <= toMs; start += 1000 {
		s := h.secs[(start/1000)%n]
		if s.StartMs == start && !s.Empty() {
			out = append(out, s)
		}
	}
	h.mu.Unlock()
	for _, s := range out {
		fn(s)
	}
}

// SumSeconds returns the counts of the last n seconds up to nowMs: the completed
// seconds of the history and the buckets of the current second (Sentinel's
// one-minute figures, for n = 60). Without history it returns the window's
// own sums.
func (w *Window) SumSeconds(nowMs int64, n int) [numEvents]int64 {
	var out [numEvents]int64
	h := w.hist.Load()
	if h == nil {
		for e := range out {
			out[e] = w.Sum(nowMs, Event(e))
		}
		return out
	}
	cur := nowMs - nowMs%1000
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range w.buckets {
		b := w.buckets[i].Load()
		switch {
		case b == nil:
		case b.start+w.bucketMs <= nowMs:
			h.record(b)
		case b.start >= cur && b.start <= nowMs && !b.recorded:
			for e := range out {
				out[e] += b.counts[e].Load()
			}
		}
	}
	ring := int64(len(h.secs))
	for k := int64(0); k < int64(n) && k < ring && cur-k*1000 >= 0; k++ {
		start := cur - k*1000
		if s := &h.secs[(start/1000)%ring]; s.StartMs == start {
			for e := range out {
				out[e] += s.Counts[e]
			}
		}
	}
	return out
}
