package flow

import (
	"cmp"
	"fmt"
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

// Manager holds the flow rules in force and checks calls against them.
// The zero value is not usable; call NewManager.
type Manager struct {
	clock  stat.Clock
	reg    *stat.Registry
	mu     sync.Mutex // serializes Load; Check never takes it
	set    atomic.Pointer[ruleSet]
	tokens atomic.Pointer[tokenHolder] // for cluster-mode rules; nil: none
}

// NewManager returns a manager that reads time from clock and the statistics of
// related resources (strategy RELATE) from reg. A nil clock means the system
// clock; a nil reg means relate rules find no statistics and pass.
func NewManager(clock stat.Clock, reg *stat.Registry) *Manager {
	if clock == nil {
		clock = stat.SystemClock{}
	}
	if reg == nil {
		reg = stat.NewRegistry(0)
	}
	m := &Manager{clock: clock, reg: reg}
	m.set.Store(&ruleSet{gen: stat.NewGeneration()})
	return m
}

// compiledRule is a loaded rule with what the hot path needs precomputed.
type compiledRule struct {
	rule     Rule
	key      Rule
	boxed    any // rule as an interface value, made once so a block does not allocate it
	limitApp string
	re       *regexp.Regexp // anchored pattern for regex resources
	ctrl     controller
}

// resourceRules are the rules that apply to one resource, in check order.
type resourceRules struct {
	rules []*compiledRule
	// named holds the specific origins that some rule of the resource names;
	// a limitApp "other" rule applies to every origin not in it.
	named []string
}

// ruleSet is immutable once published.
type ruleSet struct {
	gen   uint64                                         // tags lookups memoized in resource nodes (kernel.Lookup)
	rules []Rule                                         // in force, in load order
	byKey map[Rule]*compiledRule                         // for carrying controllers over a reload
	index *resindex.Index[*compiledRule, *resourceRules] // nil: no rules
}

// Load replaces the rules in force. Invalid rules are skipped and reported;
// duplicates (equal keys) collapse to the first; a rule equal to one already in
// force keeps its controller state, every other rule starts fresh.
func (m *Manager) Load(rules []Rule) base.LoadReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.set.Load()
	var rep base.LoadReport
	next := &ruleSet{gen: stat.NewGeneration(), byKey: make(map[Rule]*compiledRule, len(rules)), rules: make([]Rule, 0, len(rules))}
	ordered := make([]*compiledRule, 0, len(rules))
	var regex []resindex.Regex[*compiledRule]
	for i, r := range rules {
		if err := validate(r); err != nil {
			rep.Rejected = append(rep.Rejected, base.Rejection{Index: i, Resource: r.Resource, Reason: err.Error()})
			continue
		}
		k := r.Key()
		if _, dup := next.byKey[k]; dup {
			rep.Duplicates++
			continue
		}
		cr := &compiledRule{rule: r, key: k, boxed: r, limitApp: k.LimitApp}
		if r.Regex {
			// Validate compiled the bare pattern; Sentinel matches the whole name.
			re, err := regexp.Compile(`^(?:` + r.Resource + `)$`)
			if err != nil {
				rep.Rejected = append(rep.Rejected, base.Rejection{Index: i, Resource: r.Resource, Reason: err.Error()})
				continue
			}
			cr.re = re
			regex = append(regex, resindex.Regex[*compiledRule]{Re: re, Entry: cr})
		}
		if prev := old.byKey[k]; prev != nil {
			cr.ctrl = prev.ctrl
			rep.Kept++
		} else {
			cr.ctrl = newController(r, m.clock)
		}
		next.byKey[k] = cr
		next.rules = append(next.rules, r)
		ordered = append(ordered, cr)
	}
	byResource := make(map[string][]*compiledRule, len(ordered))
	for _, cr := range ordered {
		if cr.re == nil {
			byResource[cr.rule.Resource] = append(byResource[cr.rule.Resource], cr)
		}
	}
	exact := make(map[string]*resourceRules, len(byResource))
	for res, list := range byResource {
		exact[res] = build(list)
	}
	next.index = resindex.New(exact, regex, mergeRegex)
	rep.Loaded = len(next.rules)
	m.set.Store(next)
	return rep
}

// validate is Rule.Validate plus what the controllers need: a finite count (NaN
// passes "count >= 0", and neither NaN nor infinity makes a usable rate).
func validate(r Rule) error {
	if math.IsNaN(r.Count) || math.IsInf(r.Count, 0) {
		return fmt.Errorf("%w: count %v is not a finite number", ErrInvalidRule, r.Count)
	}
	return r.Validate()
}

// build orders list, the rules of one resource, as Sentinel does: local rules
// before cluster rules, and within each, specific origins, then "other", then
// "default". list is the resource's exact rules then the regex rules that
// match it, each in load order; build keeps that order among equals.
func build(list []*compiledRule) *resourceRules {
	slices.SortStableFunc(list, func(a, b *compiledRule) int {
		// Sentinel checks local rules before cluster rules, then orders by limitApp.
		if c := cmp.Compare(clusterRank(a), clusterRank(b)); c != 0 {
			return c
		}
		return cmp.Compare(rank(a.limitApp), rank(b.limitApp))
	})
	rr := &resourceRules{rules: list}
	for _, cr := range list {
		if rank(cr.limitApp) == 0 && !slices.Contains(rr.named, cr.limitApp) {
			rr.named = append(rr.named, cr.limitApp)
		}
	}
	return rr
}

// mergeRegex adds the regex rules that match a resource to its exact ones.
// exact.rules is already sorted, which build's stable sort does not mind: it
// keeps the load order among rules of equal rank either way.
func mergeRegex(_ string, exact *resourceRules, matched []*compiledRule) *resourceRules {
	var list []*compiledRule
	if exact != nil {
		list = slices.Clone(exact.rules)
	}
	return build(append(list, matched...))
}

func clusterRank(cr *compiledRule) int {
	if cr.rule.ClusterMode {
		return 1
	}
	return 0
}

func rank(limitApp string) int {
	switch limitApp {
	case base.LimitAppDefault:
		return 2
	case base.LimitAppOther:
		return 1
	}
	return 0
}

// Rules returns a copy of the rules in force, in load order.
func (m *Manager) Rules() []Rule {
	return slices.Clone(m.set.Load().rules)
}

// Check reports the first rule of c.Resource that blocks the call, or nil. Rules
// of a resource are checked in Sentinel's order. A rate-limited or prioritized
// call may wait on the clock before passing; c.NowMs then moves to the time it
// passes.
// The engine calls Check from Entry; its Context is the engine's own.
func (m *Manager) Check(c *kernel.Context) *base.BlockError {
	s := m.set.Load()
	if len(s.rules) == 0 {
		return nil
	}
	rr := kernel.Lookup(c, kernel.MemoFlow, s.gen, s.index.Lookup)
	if rr == nil {
		return nil
	}
	for _, cr := range rr.rules {
		if cr.rule.ClusterMode {
			reason, local := m.checkCluster(cr, c)
			if reason != "" {
				return &base.BlockError{Family: base.FamilyFlow, Resource: c.Resource, Rule: cr.boxed, Reason: reason, Cause: c.WaitErr}
			}
			if !local {
				continue
			}
		}
		node := m.selectNode(cr, rr, c)
		if node == nil {
			continue
		}
		if reason, waitMs := cr.ctrl.check(c, node); reason != "" {
			return &base.BlockError{Family: base.FamilyFlow, Resource: c.Resource, Rule: cr.boxed, Reason: reason, WaitMs: waitMs, Cause: c.WaitErr}
		}
	}
	return nil
}

// selectNode returns the statistics rule cr reads for call c, or nil when the
// rule does not apply to the call (Sentinel's selectNodeByRequesterAndStrategy).
func (m *Manager) selectNode(cr *compiledRule, rr *resourceRules, c *kernel.Context) *stat.Node {
	switch cr.limitApp {
	case base.LimitAppDefault:
		if cr.rule.Strategy == StrategyDirect {
			if c.Node == nil {
				return nil
			}
			return c.Node.Node
		}
	case base.LimitAppOther:
		if c.Origin == "" || slices.Contains(rr.named, c.Origin) {
			return nil
		}
		if cr.rule.Strategy == StrategyDirect {
			return originNode(c)
		}
	default:
		if cr.limitApp != c.Origin {
			return nil
		}
		if cr.rule.Strategy == StrategyDirect {
			return originNode(c)
		}
	}
	return m.referenceNode(cr, c)
}

func originNode(c *kernel.Context) *stat.Node {
	if c.Node == nil || c.Origin == "" {
		return nil
	}
	return c.Node.Origin(c.Origin)
}

// referenceNode serves RELATE (the other resource's node) and CHAIN (this
// resource's node under the entrance, only when the call came through it).
func (m *Manager) referenceNode(cr *compiledRule, c *kernel.Context) *stat.Node {
	ref := cr.rule.RefResource
	switch cr.rule.Strategy {
	case StrategyRelate:
		if rn := m.reg.Lookup(ref); rn != nil {
			return rn.Node
		}
	case StrategyChain:
		if c.Entrance == ref && c.Node != nil {
			return c.Node.Entrance(ref)
		}
	}
	return nil
}
