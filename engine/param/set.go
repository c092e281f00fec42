package param

import (
	"slices"
	"sync"

	"github.com/rulesync/rulesync/engine/stat"
)

// maxCachedResources bounds how many resource names a rule set remembers the
// regex rules of; past it, regex rules are matched on every call.
const maxCachedResources = 10_000

// resourceRules are the rules that apply to one resource, in load order.
type resourceRules struct {
	rules     []*compiled
	hasThread bool // Exit has work to do
}

// ruleSet is an immutable set of compiled rules, swapped whole on Load. Only
// the cache of regex matches changes, under its own lock.
type ruleSet struct {
	gen       uint64 // tags lookups memoized in resource nodes (base.Lookup)
	all       []*compiled
	hasThread bool // some rule is of the thread grade: Exit has work to do
	exact     map[string]*resourceRules
	regex     []*compiled

	mu      sync.RWMutex
	matched map[string]*resourceRules // resource -> exact + matching regex rules
}

func newRuleSet(all []*compiled) *ruleSet {
	s := &ruleSet{gen: stat.NewGeneration(), all: all}
	if len(all) > 0 {
		s.exact = make(map[string]*resourceRules, len(all))
	}
	slab := make([]resourceRules, 0, len(all)) // one allocation for every resource
	for i, c := range all {
		s.hasThread = s.hasThread || c.mode == modeThread
		if c.re != nil {
			s.regex = append(s.regex, c)
			continue
		}
		rr := s.exact[c.rule.Resource]
		if rr == nil {
			slab = append(slab, resourceRules{rules: all[i : i+1 : i+1]})
			rr = &slab[len(slab)-1]
			s.exact[c.rule.Resource] = rr
		} else {
			// Copy on the second rule of a resource: the first shares all's array.
			rr.rules = append(rr.rules, c)
		}
		rr.hasThread = rr.hasThread || c.mode == modeThread
	}
	if len(s.regex) > 0 {
		s.matched = make(map[string]*resourceRules)
	}
	return s
}

// rulesFor returns the rules that apply to resource, or nil.
func (s *ruleSet) rulesFor(resource string) *resourceRules {
	if s.regex == nil {
		return s.exact[resource] // a nil map reads as empty
	}
	s.mu.RLock()
	rr, ok := s.matched[resource]
	s.mu.RUnlock()
	if ok {
		return rr
	}
	rr = s.match(resource)
	s.mu.Lock()
	if len(s.matched) < maxCachedResources {
		s.matched[resource] = rr
	}
	s.mu.Unlock()
	return rr
}

// match merges the exact rules of resource with the regex rules matching it.
func (s *ruleSet) match(resource string) *resourceRules {
	exact := s.exact[resource]
	var rules []*compiled
	for _, c := range s.regex {
		if c.re.MatchString(resource) {
			cc := *c
			cc.st = c.st.forResource(resource)
			rules = append(rules, &cc)
		}
	}
	if len(rules) == 0 {
		return exact
	}
	rr := &resourceRules{}
	if exact != nil {
		rr.rules = append(rr.rules, exact.rules...)
	}
	rr.rules = append(rr.rules, rules...)
	slices.SortFunc(rr.rules, func(a, b *compiled) int { return a.order - b.order })
	for _, c := range rr.rules {
		rr.hasThread = rr.hasThread || c.mode == modeThread
	}
	return rr
}
