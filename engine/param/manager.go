package param

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// Sentinel's bounds on the values tracked per rule: 4000 per second of the
// rule's duration, at most 200,000.
const (
	baseTrackedValues = 4000
	maxTrackedValues  = 200_000
)

// Option configures a Manager.
type Option func(*options)

type options struct {
	maxValues int // 0: Sentinel's default, scaled by durationInSec
	logger    *slog.Logger
	family    base.Family
	shards    int // LRU shards per rule; 0 picks by capacity (set by tests)
}

// WithMaxTrackedValues bounds the number of distinct values each rule tracks;
// the least recently used value is forgotten first. n <= 0 keeps the default,
// 4000 per second of the rule's durationInSec, at most 200,000. Bounds of 512
// and more are split into up to 16 LRUs by a hash of the value, so that calls
// with different values rarely wait for one lock; each of those then forgets
// its own least recently used value.
func WithMaxTrackedValues(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxValues = n
		}
	}
}

// WithLogger sets where the manager logs the exception items it drops (rejected
// rules are in Load's report instead). The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithFamily sets the family named in the BlockErrors the manager returns
// (default base.FamilyParam). The gateway uses it to check its own rules,
// converted to param rules, under base.FamilyGateway.
func WithFamily(f base.Family) Option {
	return func(o *options) {
		if f != "" {
			o.family = f
		}
	}
}

// Manager holds the hot-param rules in force and checks calls against them.
// Its methods are safe for concurrent use; Check and Exit take no lock that
// Load holds.
type Manager struct {
	clock stat.Clock
	opts  options
	mu    sync.Mutex // serializes Load
	set   atomic.Pointer[ruleSet]
	memo  int // the manager's memo slot in resource nodes (kernel.Lookup)

	tokens atomic.Pointer[tokenHolder] // for cluster-mode rules; nil: none
}

// NewManager returns a Manager with no rules, reading time from clock
// (the system clock when nil).
func NewManager(clock stat.Clock, opts ...Option) *Manager {
	if clock == nil {
		clock = stat.SystemClock{}
	}
	m := &Manager{clock: clock, opts: options{family: base.FamilyParam}}
	for _, o := range opts {
		o(&m.opts)
	}
	if m.opts.logger == nil {
		m.opts.logger = slog.Default()
	}
	// The gateway's manager must not share the memo slot of the engine's own.
	m.memo = kernel.MemoParam
	if m.opts.family == base.FamilyGateway {
		m.memo = kernel.MemoGateway
	}
	m.set.Store(newRuleSet(nil))
	return m
}

// Rules returns a copy of the rules in force, in load order, as they were
// loaded: exception items the manager dropped are still listed, so that writing
// the rules back loses nothing.
func (m *Manager) Rules() []Rule {
	s := m.set.Load()
	out := make([]Rule, len(s.all))
	for i, c := range s.all {
		out[i] = c.rule
		out[i].ParamFlowItemList = slices.Clone(c.rule.ParamFlowItemList)
	}
	return out
}
