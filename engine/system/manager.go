package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// DefaultSampleInterval is how often the load and CPU usage are sampled.
const DefaultSampleInterval = time.Second

// Limit names what a system rule limits; it starts a BlockError's Reason.
type Limit string

// The limits a system rule can set, with Sentinel's names.
const (
	LimitQPS    Limit = "qps"
	LimitThread Limit = "thread"
	LimitRT     Limit = "rt"
	LimitLoad   Limit = "load"
	LimitCPU    Limit = "cpu"
)

// ErrStarted is returned by Start when the sampler already runs.
var ErrStarted = errors.New("system: sampler already started")

// Option configures a Manager.
type Option func(*Manager)

// WithSampler replaces the default ProcSampler.
func WithSampler(s Sampler) Option {
	return func(m *Manager) {
		if s != nil {
			m.sampler = s
		}
	}
}

// WithSampleInterval sets how often the sampler is read (default 1 s; values
// <= 0 keep the default).
func WithSampleInterval(d time.Duration) Option {
	return func(m *Manager) {
		if d > 0 {
			m.interval = d
		}
	}
}

// WithSamplingOnDemand makes Load start the sampler, as Start would, when the
// rules it loads are the first to need the load average or CPU usage, so that
// a manager without such rules runs no goroutine. Close stops the sampler for
// good: a later Load does not start it again (Start still does).
func WithSamplingOnDemand() Option {
	return func(m *Manager) { m.onDemand = true }
}

// WithLogger sets the logger for sampler problems (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(m *Manager) {
		if l != nil {
			m.logger = l
		}
	}
}

// thresholds is the merged rule set. A field applies when its rule pointer is
// non-nil; the pointer is the rule that set the winning (smallest) value.
type thresholds struct {
	rules []Rule

	load, cpu, qps       float64
	avgRT, maxThread     int64
	loadBy, cpuBy, qpsBy *Rule
	avgRTBy, maxThreadBy *Rule
	any                  bool
}

// Manager holds the merged system thresholds and checks inbound calls against
// them. Create it with NewManager; call Start to sample load and CPU usage and
// Close to stop.
type Manager struct {
	clock    stat.Clock
	inbound  *stat.Node
	sampler  Sampler
	interval time.Duration
	logger   *slog.Logger

	th       atomic.Pointer[thresholds]
	load     atomic.Uint64 // math.Float64bits; negative = unknown
	cpu      atomic.Uint64
	loadMu   sync.Mutex // serializes Load
	runMu    sync.Mutex // guards cancel, done and closed
	cancel   context.CancelFunc
	done     chan struct{}
	onDemand bool       // Load starts the sampler (WithSamplingOnDemand)
	closed   bool       // Close ran: Load no longer starts the sampler
	sampleMu sync.Mutex // serializes Refresh
}

// NewManager returns a manager with no rules. inbound is the node that counts
// all inbound calls (Sentinel's entry node). Checks read the time the engine
// stamped in the Context; clock (the system clock when nil) only stands in
// for a Context without one.
func NewManager(clock stat.Clock, inbound *stat.Node, opts ...Option) *Manager {
	if clock == nil {
		clock = stat.SystemClock{}
	}
	m := &Manager{clock: clock, inbound: inbound, interval: DefaultSampleInterval, logger: slog.Default()}
	for _, o := range opts {
		o(m)
	}
	if m.sampler == nil {
		m.sampler = NewProcSampler()
	}
	m.load.Store(math.Float64bits(-1))
	m.cpu.Store(math.Float64bits(-1))
	m.th.Store(&thresholds{})
	return m
}

// Load merges rules into the thresholds in force: for every field the smallest
// non-negative value wins; a CPU usage above 1 is ignored, as in Sentinel.
// System rules are never rejected; equal rules collapse.
func (m *Manager) Load(rules []Rule) base.LoadReport {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	t := &thresholds{}
	var rep base.LoadReport
	seen := make(map[Rule]struct{}, len(rules))
	for _, r := range rules {
		k := r.Key()
		if _, dup := seen[k]; dup {
			rep.Duplicates++
			continue
		}
		seen[k] = struct{}{}
		t.rules = append(t.rules, r)
	}
	for i := range t.rules {
		r := &t.rules[i]
		if r.HighestSystemLoad >= 0 && (t.loadBy == nil || r.HighestSystemLoad < t.load) {
			t.load, t.loadBy = r.HighestSystemLoad, r
		}
		if r.HighestCPUUsage >= 0 && r.HighestCPUUsage <= 1 && (t.cpuBy == nil || r.HighestCPUUsage < t.cpu) {
			t.cpu, t.cpuBy = r.HighestCPUUsage, r
		}
		if r.QPS >= 0 && (t.qpsBy == nil || r.QPS < t.qps) {
			t.qps, t.qpsBy = r.QPS, r
		}
		if r.AvgRT >= 0 && (t.avgRTBy == nil || r.AvgRT < t.avgRT) {
			t.avgRT, t.avgRTBy = r.AvgRT, r
		}
		if r.MaxThread >= 0 && (t.maxThreadBy == nil || r.MaxThread < t.maxThread) {
			t.maxThread, t.maxThreadBy = r.MaxThread, r
		}
	}
	t.any = t.loadBy != nil || t.cpuBy != nil || t.qpsBy != nil || t.avgRTBy != nil || t.maxThreadBy != nil
	rep.Loaded = len(t.rules)
	if m.onDemand && t.sampled() {
		// Before the rules are published, so that their first check reads
		// a sample rather than "unknown".
		m.startOnDemand()
	}
	m.th.Store(t)
	return rep
}

// sampled reports whether a threshold needs the sampler's figures.
func (t *thresholds) sampled() bool { return t.loadBy != nil || t.cpuBy != nil }

// startOnDemand starts the sampler unless it runs or Close ran.
func (m *Manager) startOnDemand() {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.done == nil && !m.closed {
		m.startLocked(context.Background())
	}
}

// Rules returns a copy of the rules in force.
func (m *Manager) Rules() []Rule { return slices.Clone(m.th.Load().rules) }

// Thresholds returns the merged thresholds as one rule (-1 for fields no rule
// sets).
func (m *Manager) Thresholds() Rule {
	t := m.th.Load()
	r := DefaultRule()
	if t.loadBy != nil {
		r.HighestSystemLoad = t.load
	}
	if t.cpuBy != nil {
		r.HighestCPUUsage = t.cpu
	}
	if t.qpsBy != nil {
		r.QPS = t.qps
	}
	if t.avgRTBy != nil {
		r.AvgRT = t.avgRT
	}
	if t.maxThreadBy != nil {
		r.MaxThread = t.maxThread
	}
	return r
}

// Check returns a BlockError when an inbound call would exceed a system
// threshold, nil otherwise. Calls that are not inbound always pass.
// The engine calls Check from Entry; its Context is the engine's own.
func (m *Manager) Check(c *kernel.Context) *base.BlockError {
	if !c.Inbound {
		return nil
	}
	t := m.th.Load()
	if !t.any {
		return nil
	}
	now := c.NowMs
	if now == 0 { // a Context the engine did not stamp
		now = m.clock.NowMs()
	}
	var threads int64
	if n := m.inbound; n != nil {
		threads = n.Threads()
		if t.qpsBy != nil {
			if qps := n.PassQPS(now); qps+float64(c.Count) > t.qps {
				return block(c, LimitQPS, t.qpsBy, "pass qps %g + %d > %g", qps, c.Count, t.qps)
			}
		}
		if t.maxThreadBy != nil && threads > t.maxThread {
			return block(c, LimitThread, t.maxThreadBy, "inbound threads %d > %d", threads, t.maxThread)
		}
		if t.avgRTBy != nil {
			if rt := n.AvgRT(now); rt > float64(t.avgRT) {
				return block(c, LimitRT, t.avgRTBy, "average rt %gms > %dms", rt, t.avgRT)
			}
		}
	}
	if t.loadBy != nil {
		if load := math.Float64frombits(m.load.Load()); load > t.load && !m.withinCapacity(threads, now) {
			return block(c, LimitLoad, t.loadBy, "system load %g > %g and %d threads exceed capacity", load, t.load, threads)
		}
	}
	if t.cpuBy != nil {
		if cpu := math.Float64frombits(m.cpu.Load()); cpu > t.cpu {
			return block(c, LimitCPU, t.cpuBy, "cpu usage %.3f > %g", cpu, t.cpu)
		}
	}
	return nil
}

// withinCapacity is Sentinel's BBR-style test applied when the load is high: the
// call may still pass unless more than one call is in flight and the
// concurrency exceeds max success QPS x min RT, i.e. requests are queueing.
func (m *Manager) withinCapacity(threads, now int64) bool {
	if m.inbound == nil || threads <= 1 {
		return true
	}
	return float64(threads) <= m.inbound.MaxSuccessQPS(now)*m.inbound.MinRT(now)/1000
}

func block(c *kernel.Context, l Limit, r *Rule, format string, args ...any) *base.BlockError {
	return &base.BlockError{
		Family:   base.FamilySystem,
		Resource: c.Resource,
		Rule:     *r,
		Reason:   string(l) + ": " + fmt.Sprintf(format, args...),
	}
}

// Refresh reads the sampler once and publishes its values to Check. The
// sampling goroutine calls it every interval; tests call it directly.
func (m *Manager) Refresh() {
	m.sampleMu.Lock()
	defer m.sampleMu.Unlock()
	m.load.Store(math.Float64bits(known(m.sampler.Load1())))
	m.cpu.Store(math.Float64bits(known(m.sampler.CPUUsage())))
}

// known maps NaN and infinities to -1 ("unknown"), which no threshold exceeds.
func known(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return -1
	}
	return v
}

// Load1 returns the last sampled load average (-1 if unknown).
func (m *Manager) Load1() float64 { return math.Float64frombits(m.load.Load()) }

// CPUUsage returns the last sampled CPU usage (-1 if unknown).
func (m *Manager) CPUUsage() float64 { return math.Float64frombits(m.cpu.Load()) }

// Start samples once, then starts the goroutine that samples every interval
// until ctx ends or Close is called. It returns ErrStarted if already running.
func (m *Manager) Start(ctx context.Context) error {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.done != nil {
		return ErrStarted
	}
	m.startLocked(ctx)
	return nil
}

func (m *Manager) startLocked(ctx context.Context) {
	m.Refresh()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	m.cancel, m.done = cancel, done
	go m.run(ctx, done)
}

// errSampler is a Sampler that can say why its last reading failed, as
// ProcSampler does; the manager logs such failures.
type errSampler interface {
	Sampler
	Err() error
}

func (m *Manager) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(m.interval)
	defer tick.Stop()
	var warned bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m.Refresh()
		// Report a sampler that stops working once, not every second, and
		// only when a rule needs its figures.
		if es, ok := m.sampler.(errSampler); ok && m.th.Load().sampled() {
			if err := es.Err(); err != nil && !warned {
				m.logger.Warn("system rules: cannot sample load or cpu usage; those checks are skipped", "err", err)
				warned = true
			} else if err == nil {
				warned = false
			}
		}
	}
}

// Close stops the sampling goroutine and waits for it to end. Start can start
// it again afterwards; Load no longer does (see WithSamplingOnDemand).
func (m *Manager) Close() error {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	m.closed = true
	if m.done == nil {
		return nil
	}
	m.cancel()
	<-m.done
	m.cancel, m.done = nil, nil
	return nil
}
