package tokenserver

import (
	"math"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/internal/jvalue"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// flowMetric counts one cluster flow rule (Sentinel's ClusterMetric). The
// check and the count are one step under mu, so that concurrent requests
// cannot together pass more than the threshold.
//
// Prioritized requests that find no room may borrow from the next bucket
// (Sentinel's "occupy"): the tokens are promised to the bucket that starts
// next and count as passes of that bucket from its start, as Sentinel moves
// its occupied counter into the bucket it opens next. waiting counts the
// promised tokens at the time they were promised, for maxOccupyRatio.
type flowMetric struct {
	mu       sync.Mutex
	window   *stat.Window // Pass, Block, Occupied: tokens; read in whole windows
	requests *stat.Window // Pass, Block: requests
	waiting  *stat.Window // Pass: tokens promised to a future bucket
	// promised tokens for the bucket starting at promisedStart, moved into
	// window once that bucket has begun.
	promisedStart int64
	promised      int64
	sampleCount   int
	intervalMs    int64
}

func newFlowMetric(sampleCount, intervalMs int) *flowMetric {
	return &flowMetric{
		window:      stat.NewWindow(sampleCount, int64(intervalMs)),
		requests:    stat.NewWindow(sampleCount, int64(intervalMs)),
		waiting:     stat.NewWindow(sampleCount, int64(intervalMs)),
		sampleCount: sampleCount,
		intervalMs:  int64(intervalMs),
	}
}

// settle moves promised tokens into their bucket once it has begun.
func (m *flowMetric) settle(now int64) {
	if m.promised == 0 || now < m.promisedStart {
		return
	}
	if now-m.promisedStart < m.intervalMs {
		m.window.Add(m.promisedStart, stat.Pass, m.promised)
	}
	m.promised = 0
}

// acquire is Sentinel's ClusterFlowChecker.acquireClusterToken once the rule
// and the namespace's request limit passed. threshold is already scaled by
// the connected clients (AVG_LOCAL) and exceedCount.
func (m *flowMetric) acquire(now, count int64, prioritized bool, threshold, maxOccupyRatio float64) (status int8, remaining, waitMs int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settle(now)
	sec := float64(m.intervalMs) / 1000
	passQps := float64(m.window.Sum(now, stat.Pass)) / sec
	next := threshold - passQps - float64(count)
	if next >= 0 {
		m.window.Add(now, stat.Pass, count)
		m.requests.Add(now, stat.Pass, 1)
		if prioritized {
			m.window.Add(now, stat.Occupied, count)
		}
		return statusOK, javaInt(next), 0
	}
	if prioritized {
		waitingQps := float64(m.waiting.Sum(now, stat.Pass)) / sec
		if waitingQps <= maxOccupyRatio*threshold {
			bucketMs := m.window.BucketMs()
			curStart := now - now%bucketMs
			head := m.window.BucketSum(curStart-int64(m.sampleCount-1)*bucketMs, stat.Pass)
			// Sentinel's canOccupy: the window once its head bucket drops out,
			// plus what is promised already and this request.
			if passQps+float64(count+m.promised-head) <= threshold {
				m.promisedStart = curStart + bucketMs
				m.promised += count
				m.waiting.Add(now, stat.Pass, count)
				return statusShouldWait, 0, m.promisedStart - now
			}
		}
	}
	m.window.Add(now, stat.Block, count)
	m.requests.Add(now, stat.Block, 1)
	return statusBlocked, 0, 0
}

// passQPS is the tokens passed per second over the window ending at now.
func (m *flowMetric) passQPS(now int64) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settle(now)
	return float64(m.window.Sum(now, stat.Pass)) * 1000 / float64(m.intervalMs)
}

// valueRing counts one parameter value over a window of buckets. It is small
// because a rule may track many values; its rule's lock guards it.
type valueRing struct {
	starts []int64
	counts []int64
}

func (v *valueRing) sum(now, bucketMs, intervalMs int64) int64 {
	var s int64
	for i, st := range v.starts {
		if st <= now && now-st < intervalMs {
			s += v.counts[i]
		}
	}
	return s
}

func (v *valueRing) add(now, bucketMs int64, n int64) {
	start := now - now%bucketMs
	i := int((now / bucketMs) % int64(len(v.starts)))
	if v.starts[i] != start {
		v.starts[i], v.counts[i] = start, 0
	}
	v.counts[i] += n
}

// paramMetric counts one cluster param rule per value (Sentinel's
// ClusterParamMetric), keeping at most capacity values, the least recently
// used forgotten first.
type paramMetric struct {
	mu          sync.Mutex
	values      *simplelru.LRU[jvalue.Key, *valueRing]
	sampleCount int
	bucketMs    int64
	intervalMs  int64
}

func newParamMetric(sampleCount, intervalMs, capacity int) *paramMetric {
	if sampleCount <= 0 || intervalMs <= 0 || intervalMs%sampleCount != 0 {
		sampleCount, intervalMs = 10, 1000 // rules are validated; this only guards the division
	}
	lru, _ := simplelru.NewLRU[jvalue.Key, *valueRing](max(capacity, 1), nil)
	return &paramMetric{values: lru, sampleCount: sampleCount, bucketMs: int64(intervalMs / sampleCount), intervalMs: int64(intervalMs)}
}

func (m *paramMetric) ring(k jvalue.Key) *valueRing {
	if r, ok := m.values.Get(k); ok {
		return r
	}
	r := &valueRing{starts: make([]int64, m.sampleCount), counts: make([]int64, m.sampleCount)}
	for i := range r.starts {
		r.starts[i] = -1 << 62
	}
	m.values.Add(k, r)
	return r
}

// acquire is Sentinel's ClusterParamFlowChecker: every value must have room
// (threshold - its QPS - count >= 0); then every value is counted. remaining
// is the last value's room, or -1 for several values, as in Sentinel.
func (m *paramMetric) acquire(now, count int64, keys []jvalue.Key, threshold func(jvalue.Key) float64) (status int8, remaining int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sec := float64(m.intervalMs) / 1000
	var next float64
	for _, k := range keys {
		var qps float64
		if r, ok := m.values.Peek(k); ok {
			qps = float64(r.sum(now, m.bucketMs, m.intervalMs)) / sec
		}
		next = threshold(k) - qps - float64(count)
		if next < 0 {
			return statusBlocked, 0
		}
	}
	for _, k := range keys {
		m.ring(k).add(now, m.bucketMs, count)
	}
	if len(keys) > 1 {
		return statusOK, -1
	}
	return statusOK, javaInt(next)
}

// limiter is a namespace's request counter (Sentinel's RequestLimiter):
// requests over maxAllowedQps get TOO_MANY_REQUEST.
type limiter struct {
	mu     sync.Mutex
	window *stat.Window
}

func newLimiter(c cluster.FlowConfig) *limiter {
	return &limiter{window: stat.NewWindow(c.SampleCount, int64(c.IntervalMs))}
}

func (l *limiter) tryPass(now int64, maxAllowed float64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	sec := float64(l.window.IntervalMs()) / 1000
	if float64(l.window.Sum(now, stat.Pass))/sec+1 > maxAllowed {
		return false
	}
	l.window.Add(now, stat.Pass, 1)
	return true
}

func (l *limiter) qps(now int64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.window.Sum(now, stat.Pass)) * 1000 / float64(l.window.IntervalMs())
}

func (l *limiter) reshape(c cluster.FlowConfig) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.window.SampleCount() != c.SampleCount || l.window.IntervalMs() != int64(c.IntervalMs) {
		l.window = stat.NewWindow(c.SampleCount, int64(c.IntervalMs))
	}
}

// Response statuses (wire numbers).
const (
	statusOK         int8 = 0
	statusBlocked    int8 = 1
	statusShouldWait int8 = 2
)

// javaInt converts as Java's (int) cast does: toward zero, saturating at the
// int range, NaN to 0.
func javaInt(f float64) int64 {
	switch {
	case f != f:
		return 0
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int64(f)
}
