package gateway

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
	"github.com/rulesync/rulesync/engine/param"
)

// Option configures a Manager.
type Option func(*options)

type options struct {
	logger    *slog.Logger
	paramOpts []param.Option
}

// WithLogger sets where the manager logs rule and API loads. The default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithParamOptions passes options to the private param manager that enforces
// the converted rules (for example param.WithMaxTrackedValues).
func WithParamOptions(opts ...param.Option) Option {
	return func(o *options) { o.paramOpts = append(o.paramOpts, opts...) }
}

// Manager holds the gateway flow rules and API definitions in force. Gateway
// rules are enforced as param rules by a param.Manager of its own, so that
// they never mix with the application's hot-param rules. Its methods are safe
// for concurrent use; Check, Exit, ParseArgs and MatchingAPIs take no lock.
type Manager struct {
	logger *slog.Logger
	params *param.Manager

	mu    sync.Mutex // serializes Load and LoadAPIs
	rules atomic.Pointer[compiled]
	apis  atomic.Pointer[APIMatcher]
}

// NewManager returns a Manager with no rules and no API definitions, reading
// time from clock (the system clock when nil).
func NewManager(clock stat.Clock, opts ...Option) *Manager {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	popts := append([]param.Option{param.WithLogger(o.logger)}, o.paramOpts...)
	popts = append(popts, param.WithFamily(base.FamilyGateway))
	m := &Manager{logger: o.logger, params: param.NewManager(clock, popts...)}
	m.rules.Store(&compiled{plans: map[string]*resourcePlan{}})
	m.apis.Store(&APIMatcher{})
	return m
}

// Load replaces the gateway rules in force. Invalid rules are skipped and
// reported, equal rules collapse, and a rule equal to one already in force
// keeps its counters. A rule may name an API that is not defined (yet): it
// applies as soon as the API is loaded, since only the resource name links
// them.
func (m *Manager) Load(rules []Rule) base.LoadReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := compileRules(rules)
	prep := m.params.Load(c.params)
	for _, rj := range prep.Rejected {
		// Cannot happen for a rule that passed Rule.Validate; log it if it does.
		m.logger.Warn("gateway: converted param rule rejected", "resource", rj.Resource, "reason", rj.Reason)
	}
	c.report.Kept = prep.Kept
	// The param rules go first: until the new plans are published, requests
	// still build argument arrays for the old ones, which only differ for
	// resources whose rules just changed.
	m.rules.Store(&c)
	m.logger.Debug("gateway: rules loaded", "loaded", c.report.Loaded,
		"duplicates", c.report.Duplicates, "rejected", len(c.report.Rejected))
	return c.report
}

// Rules returns a copy of the rules in force, in load order.
func (m *Manager) Rules() []Rule {
	c := m.rules.Load()
	out := make([]Rule, len(c.rules))
	for i, r := range c.rules {
		out[i] = cloneRule(r)
	}
	return out
}

// HasRules reports whether some gateway rule names resource.
func (m *Manager) HasRules(resource string) bool {
	return m.rules.Load().plans[resource] != nil
}

// LoadAPIs replaces the API definitions in force; see NewAPIMatcher for what
// is rejected.
func (m *Manager) LoadAPIs(defs []APIDefinition) base.LoadReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	am, rep := NewAPIMatcher(defs)
	m.apis.Store(am)
	m.logger.Debug("gateway: API definitions loaded", "loaded", rep.Loaded,
		"duplicates", rep.Duplicates, "rejected", len(rep.Rejected))
	return rep
}

// APIs returns a copy of the API definitions in force, in load order.
func (m *Manager) APIs() []APIDefinition { return m.apis.Load().Definitions() }

// APIMatcher returns the compiled API definitions in force.
func (m *Manager) APIMatcher() *APIMatcher { return m.apis.Load() }

// MatchingAPIs appends to dst the name of every API definition matching path
// and returns the extended slice (see APIMatcher.Match).
func (m *Manager) MatchingAPIs(path string, dst []string) []string {
	return m.apis.Load().Match(path, dst)
}

// Check checks one call against the gateway rules of c.Resource, reading the
// arguments that ParseArgs built into c.Args. Resources without gateway rules
// pass at once: the private param manager holds no rule for them.
// The engine calls Check from Entry; its Context is the engine's own.
func (m *Manager) Check(c *kernel.Context) *base.BlockError {
	be := m.params.Check(c)
	if be == nil {
		return nil
	}
	// Name the gateway rule, not its param form, and never hand out the
	// param manager's own error value.
	out := *be
	out.Family = base.FamilyGateway
	if plan := m.rules.Load().plans[c.Resource]; plan != nil {
		if r, ok := plan.ruleFor(be.Rule); ok {
			out.Rule = r
		}
	}
	if out.Value == defaultArg {
		out.Value = nil
	}
	return &out
}

// Exit gives back what Check took for a call that passed (the concurrency of
// thread-grade rules). It costs one atomic load when no rule is thread-grade.
// The engine calls Exit from Entry.Exit; its Context is the engine's own.
func (m *Manager) Exit(c *kernel.Context) {
	if !m.rules.Load().hasThread {
		return
	}
	m.params.Exit(c)
}
