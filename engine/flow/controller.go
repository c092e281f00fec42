package flow

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// Sentinel's constants for traffic shaping.
const (
	coldFactor = 3 // a cold resource starts at count/coldFactor QPS

	// occupyTimeoutMs bounds how long a prioritized request may wait for room in
	// the next bucket.
	occupyTimeoutMs = 500
)

// controller decides whether one call may pass a rule, given the node the rule
// reads. It returns "" to pass and a short reason to block, with, when it
// knows it, how long the caller would have had to wait for a pass (a rate
// limiter whose queue is full), for a Retry-After. A controller that
// makes the caller wait sleeps on the clock and moves c.NowMs to the time the
// call really passes, so that the engine counts it in the right bucket.
type controller interface {
	check(c *kernel.Context, node *stat.Node) (reason string, waitMs int64)
}

// newController builds the controller Sentinel uses for r: shaping applies to
// QPS rules only; a concurrency rule always rejects.
func newController(r Rule, clock stat.Clock) controller {
	if r.Grade != GradeQPS {
		return &rejectController{count: r.Count, grade: r.Grade, clock: clock}
	}
	switch r.ControlBehavior {
	case base.BehaviorWarmUp:
		return &warmUpController{bucket: newWarmBucket(r.Count, r.WarmUpPeriodSec)}
	case base.BehaviorRateLimiter:
		return &pacerController{count: r.Count, maxQueue: queueNanos(r.MaxQueueingTimeMs), clock: clock, pacer: newPacer()}
	case base.BehaviorWarmUpRateLimiter:
		return &pacerController{count: r.Count, maxQueue: queueNanos(r.MaxQueueingTimeMs), clock: clock, pacer: newPacer(),
			warm: newWarmBucket(r.Count, r.WarmUpPeriodSec)}
	default:
		return &rejectController{count: r.Count, grade: r.Grade, clock: clock}
	}
}

func queueNanos(ms int) int64 { return int64(ms) * int64(time.Millisecond) }

// rejectController is Sentinel's DefaultController: block once the node's QPS or
// concurrency plus this call would exceed count. A prioritized QPS call may
// instead wait for room in the next bucket.
type rejectController struct {
	count float64
	grade Grade
	clock stat.Clock
}

func (r *rejectController) check(c *kernel.Context, node *stat.Node) (string, int64) {
	var cur float64
	if r.grade == GradeThread {
		cur = float64(node.Threads())
	} else {
		cur = node.PassQPS(c.NowMs)
	}
	if cur+float64(c.Count) <= r.count {
		return "", 0
	}
	if c.Prioritized && r.grade == GradeQPS {
		if wait, ok := node.TryOccupyNext(c.NowMs, c.Count, r.count, occupyTimeoutMs); ok {
			node.AddWaiting(c.NowMs+wait, c.Count)
			node.AddOccupied(c.NowMs, c.Count)
			if err := c.Wait(r.clock, time.Duration(wait)*time.Millisecond); err != nil {
				return fmt.Sprintf("gave up waiting %d ms for the next window: %v", wait, err), 0
			}
			c.NowMs = r.clock.NowMs()
			return "", 0
		}
	}
	if r.grade == GradeThread {
		return fmt.Sprintf("concurrency %g + %d > count %g", cur, c.Count, r.count), 0
	}
	return fmt.Sprintf("qps %g + %d > count %g", cur, c.Count, r.count), 0
}

// warmBucket is the Guava-style token bucket behind warm-up: tokens pile up
// while traffic is low (up to maxToken) and, above warningToken, lower the
// allowed rate linearly (by slope) down to count/coldFactor when the bucket is
// full. Traffic drains the bucket, so the allowed rate climbs back to count over
// about warmUpPeriodSec.
type warmBucket struct {
	count        float64
	warningToken int64
	maxToken     int64
	slope        float64
	stored       atomic.Int64
	lastFilled   atomic.Int64 // ms, start of the second last refilled
}

func newWarmBucket(count float64, warmUpSec int) *warmBucket {
	// Sentinel truncates to whole tokens; keeping that makes our thresholds
	// match a Java app running the same rule.
	warning := int64(float64(warmUpSec)*count) / (coldFactor - 1)
	maxTok := warning + int64(2*float64(warmUpSec)*count/(1.0+coldFactor))
	b := &warmBucket{count: count, warningToken: warning, maxToken: maxTok}
	if maxTok > warning && count > 0 {
		b.slope = (coldFactor - 1.0) / count / float64(maxTok-warning)
	}
	// A new rule starts cold, as if the resource had been idle for ever.
	b.stored.Store(maxTok)
	return b
}

// sync refills the bucket once per second from the previous second's QPS. The
// caller that moves lastFilled to this second does the refill, so concurrent
// callers cannot refill or drain the bucket twice.
func (b *warmBucket) sync(nowMs int64, prevQPS int64) {
	cur := nowMs - nowMs%1000
	last := b.lastFilled.Load()
	if cur <= last || !b.lastFilled.CompareAndSwap(last, cur) {
		return
	}
	next := b.coolDown(b.stored.Load(), cur, last, prevQPS) - prevQPS
	b.stored.Store(max(next, 0))
}

func (b *warmBucket) coolDown(old, cur, last, prevQPS int64) int64 {
	next := old
	refill := func() int64 {
		add := float64(cur-last) * b.count / 1000
		if add >= float64(b.maxToken) {
			return b.maxToken // long idle: full, without overflowing
		}
		return old + int64(add)
	}
	switch {
	case old < b.warningToken:
		next = refill()
	case old > b.warningToken:
		// Refill a warm bucket only while traffic is well below the limit, so a
		// busy resource does not cool down again.
		if prevQPS < int64(b.count)/coldFactor {
			next = refill()
		}
	}
	return min(next, b.maxToken)
}

// rate is the QPS the bucket allows now.
func (b *warmBucket) rate() float64 {
	rest := b.stored.Load()
	if rest < b.warningToken || b.slope == 0 {
		return b.count
	}
	above := float64(rest - b.warningToken)
	return math.Nextafter(1.0/(above*b.slope+1.0/b.count), math.Inf(1))
}

// warmUpController is Sentinel's WarmUpController.
type warmUpController struct{ bucket *warmBucket }

func (w *warmUpController) check(c *kernel.Context, node *stat.Node) (string, int64) {
	if w.bucket.count <= 0 {
		return fmt.Sprintf("count %g allows nothing", w.bucket.count), 0
	}
	pass := node.PassQPS(c.NowMs)
	w.bucket.sync(c.NowMs, int64(node.PreviousPassQPS(c.NowMs)))
	limit := w.bucket.rate()
	if pass+float64(c.Count) <= limit {
		return "", 0
	}
	return fmt.Sprintf("qps %g + %d > warm-up limit %g (count %g)", pass, c.Count, limit, w.bucket.count), 0
}

// pacer spaces passes evenly: it holds the time the latest admitted call is
// scheduled to pass; each call reserves the next slot with a compare-and-swap.
type pacer struct{ latest atomic.Int64 }

func newPacer() *pacer {
	p := &pacer{}
	// Far in the past, so the first call passes at once whatever the clock's epoch.
	p.latest.Store(math.MinInt64 / 4)
	return p
}

// reserve returns how long a call costing cost nanoseconds must wait at now, or
// ok == false when that wait would exceed maxQueue (Sentinel's
// RateLimiterController blocks only a wait longer than maxQueueingTimeMs).
func (p *pacer) reserve(now, cost, maxQueue int64) (wait int64, ok bool) {
	return kernel.Reserve(&p.latest, now, cost, maxQueue)
}

// pacerController is Sentinel's RateLimiterController (warm == nil) and
// WarmUpRateLimiterController: calls pass 1/rate seconds apart, waiting in line
// for at most maxQueue; the rate is count, or the warm-up rate while cold.
type pacerController struct {
	count    float64
	maxQueue int64 // ns
	clock    stat.Clock
	pacer    *pacer
	warm     *warmBucket
}

func (p *pacerController) check(c *kernel.Context, node *stat.Node) (string, int64) {
	if c.Count <= 0 {
		return "", 0
	}
	if p.count <= 0 {
		return fmt.Sprintf("count %g allows nothing", p.count), 0
	}
	rate := p.count
	if p.warm != nil {
		p.warm.sync(c.NowMs, int64(node.PreviousPassQPS(c.NowMs)))
		rate = p.warm.rate()
	}
	cost := int64(math.Round(float64(c.Count) / rate * float64(time.Second)))
	now := p.clock.NowNanos()
	wait, ok := p.pacer.reserve(now, cost, p.maxQueue)
	if !ok {
		// WaitMs is the whole wait, as hot-param rate limiters report it:
		// after that long the call would surely pass.
		return fmt.Sprintf("queueing %v > maxQueueingTimeMs %v", time.Duration(wait), time.Duration(p.maxQueue)),
			max(1, (wait+int64(time.Millisecond)-1)/int64(time.Millisecond))
	}
	if wait > 0 {
		if err := c.Wait(p.clock, time.Duration(wait)); err != nil {
			return fmt.Sprintf("gave up waiting %v in line: %v", time.Duration(wait), err), 0
		}
		c.NowMs = p.clock.NowMs()
	}
	return "", 0
}
