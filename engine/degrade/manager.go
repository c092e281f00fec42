package degrade

import (
	"math"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/resindex"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

type ruleSet struct {
	gen      uint64 // tags lookups memoized in resource nodes (kernel.Lookup)
	rules    []Rule
	breakers map[Rule]*breaker                     // by Rule.Key(), to carry breakers over reloads
	index    *resindex.Index[*breaker, []*breaker] // nil: no rules
}

func emptySet() *ruleSet {
	return &ruleSet{gen: stat.NewGeneration(), breakers: map[Rule]*breaker{}}
}

type listener struct{ fn func(StateChange) }

// Manager holds the degrade rules in force and their circuit breakers. Create
// it with NewManager.
type Manager struct {
	clock     stat.Clock
	mu        sync.Mutex // serializes Load and listener registration
	set       atomic.Pointer[ruleSet]
	listeners atomic.Pointer[[]*listener]
}

// NewManager returns a manager with no rules that reads time from clock
// (the system clock when nil).
func NewManager(clock stat.Clock) *Manager {
	if clock == nil {
		clock = stat.SystemClock{}
	}
	m := &Manager{clock: clock}
	m.set.Store(emptySet())
	return m
}

// AddStateListener registers fn to be told of every breaker state change, and
// of breakers that a Load removes while not CLOSED. fn runs synchronously on
// the goroutine that caused the change (a call's Check or Exit, or Load), so
// it must be quick and must not call Load. The returned func unregisters fn.
func (m *Manager) AddStateListener(fn func(StateChange)) (remove func()) {
	if fn == nil {
		return func() {}
	}
	l := &listener{fn: fn}
	m.mu.Lock()
	defer m.mu.Unlock()
	var next []*listener
	if cur := m.listeners.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, l)
	m.listeners.Store(&next)
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		cur := m.listeners.Load()
		if cur == nil {
			return
		}
		next := slices.DeleteFunc(slices.Clone(*cur), func(x *listener) bool { return x == l })
		m.listeners.Store(&next)
	}
}

// notify is every breaker's callback; it reads the listeners at call time so
// that breakers carried over reloads see listeners added later.
func (m *Manager) notify(sc StateChange) {
	ls := m.listeners.Load()
	if ls == nil {
		return
	}
	for _, l := range *ls {
		l.fn(sc)
	}
}

// Load replaces the rules in force. Invalid rules are skipped and reported with
// their index; duplicates (equal but for id) collapse into the first. A rule
// equal to one already in force keeps its breaker, state and counters; a new or
// changed rule starts CLOSED with empty counters.
func (m *Manager) Load(rules []Rule) base.LoadReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.set.Load()
	next := &ruleSet{
		gen:      stat.NewGeneration(),
		rules:    make([]Rule, 0, len(rules)),
		breakers: make(map[Rule]*breaker, len(rules)),
	}
	var rep base.LoadReport
	var lists resindex.Lists[*breaker]
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			rep.Rejected = append(rep.Rejected, base.Rejection{Index: i, Resource: r.Resource, Reason: err.Error()})
			continue
		}
		k := r.Key()
		if _, dup := next.breakers[k]; dup {
			rep.Duplicates++
			continue
		}
		b, kept := old.breakers[k]
		if kept {
			if *b.rule.Load() != r { // equal but for id or a blank limitApp
				rr := r
				b.rule.Store(&rr)
			}
			rep.Kept++
		} else {
			b = newBreaker(r, m.notify)
		}
		var re *regexp.Regexp
		if r.Regex {
			re = regexp.MustCompile(r.Resource) // Validate compiled it already
		}
		next.rules = append(next.rules, r)
		next.breakers[k] = b
		lists.Add(r.Resource, re, b)
	}
	next.index = lists.Index()
	rep.Loaded = len(next.rules)
	m.set.Store(next)
	for k, b := range old.breakers {
		if _, still := next.breakers[k]; still {
			continue
		}
		if st := State(b.state.Load()); st != StateClosed {
			m.notify(StateChange{Rule: *b.rule.Load(), Prev: st, Next: StateClosed, Removed: true})
		}
	}
	return rep
}

// Rules returns a copy of the rules in force.
func (m *Manager) Rules() []Rule { return slices.Clone(m.set.Load().rules) }

// BreakerState returns the state of the breaker of the rule in force equal to
// r (ids aside), and false when no such rule is loaded.
func (m *Manager) BreakerState(r Rule) (State, bool) {
	b, ok := m.set.Load().breakers[r.Key()]
	if !ok {
		return StateClosed, false
	}
	return State(b.state.Load()), true
}

// Check returns a BlockError when a breaker of c.Resource is open (or half-open
// with its probe in flight), nil otherwise. A call that finds an open breaker
// whose time window is over becomes that breaker's probe.
// The engine calls Check from Entry; its Context is the engine's own.
func (m *Manager) Check(c *kernel.Context) *base.BlockError {
	s := m.set.Load()
	if len(s.rules) == 0 {
		return nil
	}
	bs := kernel.Lookup(c, kernel.MemoDegrade, s.gen, s.index.Lookup)
	for i, b := range bs {
		if !b.tryPass(c, c.NowMs) {
			// Probes this call took on earlier breakers must not wait for an
			// Exit that will never come.
			for _, prev := range bs[:i] {
				prev.releaseProbe(c)
			}
			return b.blockError(c)
		}
	}
	return nil
}

// Exit feeds the completion of a call that passed (c.RTMs and c.Err, set by the
// engine) to every breaker of c.Resource. It must be given the same Context
// that Check saw, which is how a half-open breaker recognizes its probe.
//
// The completion time is c.NowMs + c.RTMs, which the engine already knows, so
// that Exit does not read the clock again; a Context without NowMs falls back
// to the manager's clock.
// The engine calls Exit from Entry.Exit; its Context is the engine's own.
func (m *Manager) Exit(c *kernel.Context) {
	s := m.set.Load()
	if len(s.rules) == 0 {
		return
	}
	bs := kernel.Lookup(c, kernel.MemoDegrade, s.gen, s.index.Lookup)
	if len(bs) == 0 {
		return
	}
	now := c.NowMs + c.RTMs
	if c.NowMs == 0 {
		now = m.clock.NowMs()
	}
	for _, b := range bs {
		b.complete(c, now)
	}
}

func floatBits(f float64) uint64 { return math.Float64bits(f) }
func floatFrom(u uint64) float64 { return math.Float64frombits(u) }
