package stat

import (
	"math"
	"sync/atomic"
)

// Event is a kind of counted event.
type Event int

// Counted events.
const (
	Pass     Event = iota // requests admitted
	Block                 // requests blocked
	Success               // requests completed (Exit)
	Error                 // requests completed with a business error
	RT                    // sum of response times in ms of completed requests
	Occupied              // requests admitted against a future window (prioritized)
	numEvents
)

// NumEvents is the number of kinds of counted events.
const NumEvents = numEvents

type bucket struct {
	start  int64 // window start in ms; immutable once published
	counts [numEvents]atomic.Int64
	minRT  atomic.Int64
	// recorded: the bucket's counts went into the window's History (guarded
	// by the history's lock; the hot path never reads it).
	recorded bool
}

func newBucket(start int64) *bucket {
	b := &bucket{start: start}
	b.minRT.Store(math.MaxInt64)
	return b
}

// Window is a ring of sampleCount buckets covering intervalMs milliseconds. Adds
// and reads are lock-free: a bucket that belongs to an old window is replaced by
// a fresh one with a compare-and-swap (one small allocation per bucket length).
type Window struct {
	sampleCount int64
	intervalMs  int64
	bucketMs    int64
	buckets     []atomic.Pointer[bucket]
	// latest is the bucket most recently found current. Most calls land in it,
	// and checking its range spares them the two divisions of the slot lookup.
	latest atomic.Pointer[bucket]
	// hist, when set (EnableHistory), records each bucket once it is over.
	hist atomic.Pointer[History]
}

// NewWindow returns a window of sampleCount buckets over intervalMs. intervalMs
// must be a positive multiple of sampleCount; invalid arguments fall back to 2
// buckets over 1000 ms, Sentinel's default for per-second statistics.
func NewWindow(sampleCount int, intervalMs int64) *Window {
	if sampleCount <= 0 || intervalMs <= 0 || intervalMs%int64(sampleCount) != 0 {
		sampleCount, intervalMs = 2, 1000
	}
	return &Window{
		sampleCount: int64(sampleCount),
		intervalMs:  intervalMs,
		bucketMs:    intervalMs / int64(sampleCount),
		buckets:     make([]atomic.Pointer[bucket], sampleCount),
	}
}

// IntervalMs is the span the window covers.
func (w *Window) IntervalMs() int64 { return w.intervalMs }

// SampleCount is the number of buckets.
func (w *Window) SampleCount() int { return int(w.sampleCount) }

// BucketMs is the length of one bucket.
func (w *Window) BucketMs() int64 { return w.bucketMs }

// current returns the bucket for nowMs, replacing a stale one.
func (w *Window) current(nowMs int64) *bucket {
	if b := w.latest.Load(); b != nil && nowMs >= b.start && nowMs-b.start < w.bucketMs {
		return b
	}
	if nowMs < 0 {
		nowMs = 0
	}
	start := nowMs - nowMs%w.bucketMs
	slot := &w.buckets[(nowMs/w.bucketMs)%w.sampleCount]
	for {
		b := slot.Load()
		if b != nil && b.start == start {
			w.latest.Store(b)
			return b
		}
		if b != nil && b.start > start {
			// The clock went backwards (or a late writer): count into the newer bucket.
			return b
		}
		if b != nil {
			if h := w.hist.Load(); h != nil {
				// Once per bucket length: record the old bucket before it goes.
				return w.rotate(h, slot, start)
			}
		}
		nb := newBucket(start)
		if slot.CompareAndSwap(b, nb) {
			w.latest.Store(nb)
			return nb
		}
	}
}

// Add counts n events of kind e at nowMs.
func (w *Window) Add(nowMs int64, e Event, n int64) {
	w.current(nowMs).counts[e].Add(n)
}

// AddRT records a completed call's response time: it adds to the RT sum and
// lowers the bucket's minimum.
func (w *Window) AddRT(nowMs int64, rtMs int64) {
	w.current(nowMs).addRT(rtMs)
}

func (b *bucket) addRT(rtMs int64) {
	// Calls faster than a millisecond are common and add nothing to the sum;
	// skipping the add spares an atomic read-modify-write on the hot path.
	if rtMs != 0 {
		b.counts[RT].Add(rtMs)
	}
	for {
		m := b.minRT.Load()
		if rtMs >= m || b.minRT.CompareAndSwap(m, rtMs) {
			return
		}
	}
}

// valid reports whether b belongs to the window ending at nowMs.
func (w *Window) valid(b *bucket, nowMs int64) bool {
	return b != nil && nowMs-b.start < w.intervalMs && b.start <= nowMs
}

// Sum returns the count of e over the window ending at nowMs.
func (w *Window) Sum(nowMs int64, e Event) int64 {
	var s int64
	for i := range w.buckets {
		if b := w.buckets[i].Load(); w.valid(b, nowMs) {
			s += b.counts[e].Load()
		}
	}
	return s
}

// Max returns the largest per-bucket count of e over the window ending at nowMs.
func (w *Window) Max(nowMs int64, e Event) int64 {
	var m int64
	for i := range w.buckets {
		if b := w.buckets[i].Load(); w.valid(b, nowMs) {
			if c := b.counts[e].Load(); c > m {
				m = c
			}
		}
	}
	return m
}

// MinRT returns the smallest response time seen in the window, or math.MaxInt64
// when nothing completed.
func (w *Window) MinRT(nowMs int64) int64 {
	m := int64(math.MaxInt64)
	for i := range w.buckets {
		if b := w.buckets[i].Load(); w.valid(b, nowMs) {
			if v := b.minRT.Load(); v < m {
				m = v
			}
		}
	}
	return m
}

// FutureSum returns the count of e in buckets that start after nowMs (counts
// added ahead of time, as prioritized requests do when they borrow).
func (w *Window) FutureSum(nowMs int64, e Event) int64 {
	var s int64
	for i := range w.buckets {
		if b := w.buckets[i].Load(); b != nil && b.start > nowMs && b.start-nowMs <= w.intervalMs {
			s += b.counts[e].Load()
		}
	}
	return s
}

// BucketSum returns the count of e in the bucket that starts at startMs, or 0 if
// that bucket is no longer held.
func (w *Window) BucketSum(startMs int64, e Event) int64 {
	if startMs < 0 {
		return 0
	}
	b := w.buckets[(startMs/w.bucketMs)%w.sampleCount].Load()
	if b == nil || b.start != startMs {
		return 0
	}
	return b.counts[e].Load()
}

// Reset drops every count.
func (w *Window) Reset() {
	w.latest.Store(nil)
	for i := range w.buckets {
		w.buckets[i].Store(nil)
	}
}
