package stat

import (
	"math"
	"sync/atomic"
)

// Node holds the statistics of one resource, one (resource, origin) pair or one
// (resource, entrance) pair: a per-second window of two 500 ms buckets, a window
// of two one-second buckets for "the previous second", and the concurrency.
//
// The previous-second window is only kept once somebody has read it (warm-up
// controllers do): most nodes never need it, and skipping it saves an atomic
// add per pass and per block on the hot path. Its first reading is therefore 0.
type Node struct {
	second    *Window
	seconds   *Window
	trackPrev atomic.Bool
	waiting   *Window // tokens promised to future buckets by prioritized requests
	threads   atomic.Int64
}

// NewNode returns an empty node.
func NewNode() *Node {
	return &Node{second: NewWindow(2, 1000), seconds: NewWindow(2, 2000), waiting: NewWindow(2, 1000)}
}

// AddPass counts n admitted requests and raises the concurrency by n.
func (n *Node) AddPass(nowMs, count int64) {
	n.second.Add(nowMs, Pass, count)
	if n.trackPrev.Load() {
		n.seconds.Add(nowMs, Pass, count)
	}
	n.threads.Add(1)
}

// AddBlock counts n blocked requests.
func (n *Node) AddBlock(nowMs, count int64) {
	n.second.Add(nowMs, Block, count)
	if n.trackPrev.Load() {
		n.seconds.Add(nowMs, Block, count)
	}
}

// AddOccupied counts n requests admitted against the next window.
func (n *Node) AddOccupied(nowMs, count int64) {
	n.second.Add(nowMs, Occupied, count)
}

// AddComplete records the completion of count requests with response time rtMs,
// lowers the concurrency and, when failed, counts errors.
func (n *Node) AddComplete(nowMs, count, rtMs int64, failed bool) {
	b := n.second.current(nowMs)
	b.counts[Success].Add(count)
	b.addRT(rtMs)
	if failed {
		b.counts[Error].Add(count)
	}
	n.threads.Add(-1)
}

// AddError counts errors without completing a request (an error traced mid-call).
func (n *Node) AddError(nowMs, count int64) { n.second.Add(nowMs, Error, count) }

func (n *Node) perSecond(nowMs int64, e Event) float64 {
	return float64(n.second.Sum(nowMs, e)) * 1000 / float64(n.second.IntervalMs())
}

// PassQPS is the admitted requests per second over the last second.
func (n *Node) PassQPS(nowMs int64) float64 { return n.perSecond(nowMs, Pass) }

// BlockQPS is the blocked requests per second over the last second.
func (n *Node) BlockQPS(nowMs int64) float64 { return n.perSecond(nowMs, Block) }

// SuccessQPS is the completed requests per second over the last second.
func (n *Node) SuccessQPS(nowMs int64) float64 { return n.perSecond(nowMs, Success) }

// ErrorQPS is the failed requests per second over the last second.
func (n *Node) ErrorQPS(nowMs int64) float64 { return n.perSecond(nowMs, Error) }

// OccupiedQPS is the requests per second admitted against a future window.
func (n *Node) OccupiedQPS(nowMs int64) float64 { return n.perSecond(nowMs, Occupied) }

// PreviousPassQPS is the admitted count of the previous whole second. The
// first call starts the tracking and returns 0 (see Node).
func (n *Node) PreviousPassQPS(nowMs int64) float64 {
	n.startTracking()
	cur := nowMs - nowMs%1000
	return float64(n.seconds.BucketSum(cur-1000, Pass))
}

// PreviousBlockQPS is the blocked count of the previous whole second. The
// first call starts the tracking and returns 0 (see Node).
func (n *Node) PreviousBlockQPS(nowMs int64) float64 {
	n.startTracking()
	cur := nowMs - nowMs%1000
	return float64(n.seconds.BucketSum(cur-1000, Block))
}

func (n *Node) startTracking() {
	if !n.trackPrev.Load() {
		n.trackPrev.Store(true)
	}
}

// AvgRT is the mean response time in ms of requests completed in the last second.
func (n *Node) AvgRT(nowMs int64) float64 {
	s := n.second.Sum(nowMs, Success)
	if s == 0 {
		return 0
	}
	return float64(n.second.Sum(nowMs, RT)) / float64(s)
}

// MinRT is the smallest response time in ms in the last second, or 1 when
// nothing completed (Sentinel's convention, so that capacity estimates stay finite).
func (n *Node) MinRT(nowMs int64) float64 {
	m := n.second.MinRT(nowMs)
	if m == math.MaxInt64 || m <= 0 {
		return 1
	}
	return float64(m)
}

// MaxSuccessQPS is the largest per-bucket completed count scaled to a second.
func (n *Node) MaxSuccessQPS(nowMs int64) float64 {
	return float64(n.second.Max(nowMs, Success)) * float64(n.second.SampleCount()) * 1000 / float64(n.second.IntervalMs())
}

// Threads is the current concurrency.
func (n *Node) Threads() int64 { return n.threads.Load() }

// Window returns the per-second window, for callers that need raw buckets.
func (n *Node) Window() *Window { return n.second }

// EnableHistory makes the node keep per-second totals of its last seconds
// seconds (see History), at no cost to the hot path.
func (n *Node) EnableHistory(seconds int) { n.second.EnableHistory(seconds, &n.threads) }

// Seconds calls fn for each second of the node's history whose start is in
// [fromMs, toMs] and that is over by nowMs, oldest first, skipping empty ones.
func (n *Node) Seconds(nowMs, fromMs, toMs int64, fn func(Second)) {
	n.second.Seconds(nowMs, fromMs, toMs, fn)
}

// Totals returns the counts of the last n seconds up to nowMs (the window's
// own counts without history).
func (n *Node) Totals(nowMs int64, seconds int) [numEvents]int64 {
	return n.second.SumSeconds(nowMs, seconds)
}
