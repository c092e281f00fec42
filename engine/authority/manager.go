package authority

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/resindex"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// smallList is the size up to which an origin list is scanned rather than
// hashed: comparing a few short strings beats hashing the caller's origin.
const smallList = 8

// checker is one loaded rule with its origin list parsed once.
type checker struct {
	rule Rule
	few  []string            // the origins, when there are at most smallList
	many map[string]struct{} // the origins otherwise
}

func newChecker(r Rule) *checker {
	c := &checker{rule: r}
	for o := range strings.SplitSeq(r.LimitApp, ",") {
		if o = strings.TrimSpace(o); o != "" && !slices.Contains(c.few, o) {
			c.few = append(c.few, o)
		}
	}
	if len(c.few) > smallList {
		c.many = make(map[string]struct{}, len(c.few))
		for _, o := range c.few {
			c.many[o] = struct{}{}
		}
		c.few = nil
	}
	return c
}

func (c *checker) listed(origin string) bool {
	if c.many != nil {
		_, ok := c.many[origin]
		return ok
	}
	return slices.Contains(c.few, origin)
}

// pass reports whether origin may call under this rule.
func (c *checker) pass(origin string) bool {
	if origin == "" {
		return c.rule.Strategy == StrategyBlack
	}
	return c.listed(origin) == (c.rule.Strategy == StrategyWhite)
}

type ruleSet struct {
	gen   uint64 // tags lookups memoized in resource nodes (kernel.Lookup)
	rules []Rule
	index *resindex.Index[*checker, []*checker] // nil: no rules
}

// Manager holds the authority rules in force. The zero value is not usable;
// call NewManager.
type Manager struct {
	mu  sync.Mutex // serializes Load
	set atomic.Pointer[ruleSet]
}

// NewManager returns a manager with no rules.
func NewManager() *Manager {
	m := &Manager{}
	m.set.Store(&ruleSet{gen: stat.NewGeneration()})
	return m
}

// Load replaces the rules in force. Invalid rules are skipped and reported with
// their index; duplicates (equal but for id) collapse into the first.
func (m *Manager) Load(rules []Rule) base.LoadReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	var rep base.LoadReport
	next := &ruleSet{gen: stat.NewGeneration()}
	var lists resindex.Lists[*checker]
	seen := make(map[Rule]struct{}, len(rules))
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			rep.Rejected = append(rep.Rejected, base.Rejection{Index: i, Resource: r.Resource, Reason: err.Error()})
			continue
		}
		k := r.Key()
		if _, dup := seen[k]; dup {
			rep.Duplicates++
			continue
		}
		seen[k] = struct{}{}
		var re *regexp.Regexp
		if r.Regex {
			re = regexp.MustCompile(r.Resource) // Validate compiled it already
		}
		next.rules = append(next.rules, r)
		lists.Add(r.Resource, re, newChecker(r))
	}
	next.index = lists.Index()
	rep.Loaded = len(next.rules)
	m.set.Store(next)
	return rep
}

// Rules returns a copy of the rules in force.
func (m *Manager) Rules() []Rule { return slices.Clone(m.set.Load().rules) }

// Check returns a BlockError when c.Origin fails any authority rule of
// c.Resource, nil otherwise.
// The engine calls Check from Entry; its Context is the engine's own.
func (m *Manager) Check(c *kernel.Context) *base.BlockError {
	s := m.set.Load()
	if len(s.rules) == 0 {
		return nil
	}
	for _, ch := range kernel.Lookup(c, kernel.MemoAuthority, s.gen, s.index.Lookup) {
		if !ch.pass(c.Origin) {
			return ch.blockError(c)
		}
	}
	return nil
}

func (ch *checker) blockError(c *kernel.Context) *base.BlockError {
	var reason string
	switch {
	case ch.rule.Strategy == StrategyBlack:
		reason = fmt.Sprintf("origin %q is on the black list", c.Origin)
	case c.Origin == "":
		reason = "the call has no origin and the resource has a white list"
	default:
		reason = fmt.Sprintf("origin %q is not on the white list", c.Origin)
	}
	return &base.BlockError{Family: base.FamilyAuthority, Resource: c.Resource, Rule: ch.rule, Reason: reason}
}
