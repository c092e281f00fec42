package param

import (
	"slices"

	"github.com/rulesync/rulesync/engine/internal/resindex"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// maxCachedResources bounds how many resources a regex rule keeps apart
// statistics for; past it, the others share the rule's own state.
const maxCachedResources = 10_000

// resourceRules are the rules that apply to one resource, in load order.
type resourceRules struct {
	rules     []*compiled
	hasThread bool // Exit has work to do
}

// ruleSet is an immutable set of compiled rules, swapped whole on Load. Only
// the index's cache of regex matches changes, under its own lock.
type ruleSet struct {
	gen       uint64 // tags lookups memoized in resource nodes (kernel.Lookup)
	all       []*compiled
	hasThread bool                                       // some rule is of the thread grade: Exit has work to do
	index     *resindex.Index[*compiled, *resourceRules] // nil: no rules
}

func newRuleSet(all []*compiled) *ruleSet {
	s := &ruleSet{gen: stat.NewGeneration(), all: all}
	if len(all) == 0 {
		return s
	}
	exact := make(map[string]*resourceRules, len(all))
	var regex []resindex.Regex[*compiled]
	slab := make([]resourceRules, 0, len(all)) // one allocation for every resource
	for i, c := range all {
		s.hasThread = s.hasThread || c.mode == modeThread
		if c.re != nil {
			regex = append(regex, resindex.Regex[*compiled]{Re: c.re, Entry: c})
			continue
		}
		rr := exact[c.rule.Resource]
		if rr == nil {
			slab = append(slab, resourceRules{rules: all[i : i+1 : i+1]})
			rr = &slab[len(slab)-1]
			exact[c.rule.Resource] = rr
		} else {
			// Copy on the second rule of a resource: the first shares all's array.
			rr.rules = append(rr.rules, c)
		}
		rr.hasThread = rr.hasThread || c.mode == modeThread
	}
	s.index = resindex.New(exact, regex, mergeRegex)
	return s
}

// mergeRegex merges the exact rules of resource with the regex rules matching
// it, in load order. Each regex rule counts the resource apart.
func mergeRegex(resource string, exact *resourceRules, matched []*compiled) *resourceRules {
	rr := &resourceRules{}
	if exact != nil {
		rr.rules = append(rr.rules, exact.rules...)
	}
	for _, c := range matched {
		cc := *c
		cc.st = c.st.forResource(resource)
		rr.rules = append(rr.rules, &cc)
	}
	slices.SortFunc(rr.rules, func(a, b *compiled) int { return a.order - b.order })
	for _, c := range rr.rules {
		rr.hasThread = rr.hasThread || c.mode == modeThread
	}
	return rr
}
