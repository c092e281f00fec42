package gateway

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/param"
)

// notMatchItem lets every value that failed a rule's pattern pass: they all
// share the "$NM" argument, which must never be the one that is limited.
var notMatchItem = param.Item{Object: NotMatchParam, Count: notMatchPassCnt, ClassType: "String"}

// paramSlot is one compiled paramItem: where its argument comes from and the
// pattern its value must match.
type paramSlot struct {
	strategy int
	field    string
	pattern  string
	match    int
	re       *regexp.Regexp
}

func compileSlot(p ParamItem) (paramSlot, error) {
	s := paramSlot{strategy: p.ParseStrategy, field: p.FieldName, pattern: p.Pattern, match: p.MatchStrategy}
	if p.Pattern != "" && p.MatchStrategy == ParamMatchRegex {
		// Whole-value match, as Java's Matcher.matches.
		re, err := regexp.Compile(`^(?:` + p.Pattern + `)$`)
		if err != nil {
			return s, fmt.Errorf("%w: paramItem.pattern %q does not compile: %v", ErrInvalidRule, p.Pattern, err)
		}
		s.re = re
	}
	return s, nil
}

// accepts reports whether v passes the slot's pattern. An empty pattern
// accepts everything. PREFIX is a real prefix test (Java returns the raw
// value for it, so its PREFIX items limit every value).
func (s *paramSlot) accepts(v string) bool {
	if s.pattern == "" {
		return true
	}
	switch s.match {
	case ParamMatchExact:
		return v == s.pattern
	case ParamMatchPrefix:
		return strings.HasPrefix(v, s.pattern)
	case ParamMatchRegex:
		return s.re.MatchString(v)
	case ParamMatchContains:
		return strings.Contains(v, s.pattern)
	}
	return false
}

// resourcePlan is what one resource's gateway rules need at request time.
type resourcePlan struct {
	slots      []paramSlot // by param index
	hasDefault bool        // some rule has no paramItem: the last arg is "$D"
	rules      []Rule      // the gateway rules of the resource, in index order for param rules
	converted  []param.Rule
}

// nargs is the length of the resource's argument array.
func (p *resourcePlan) nargs() int {
	if p.hasDefault {
		return len(p.slots) + 1
	}
	return len(p.slots)
}

// ruleFor returns the gateway rule a converted param rule came from.
func (p *resourcePlan) ruleFor(pr any) (Rule, bool) {
	r, ok := pr.(param.Rule)
	if !ok {
		if rp, okp := pr.(*param.Rule); okp && rp != nil {
			r, ok = *rp, true
		}
	}
	if !ok {
		return Rule{}, false
	}
	for i := range p.converted {
		if p.converted[i].Equal(r) {
			return p.rules[i], true
		}
	}
	return Rule{}, false
}

// toParamRule converts one gateway rule to the param rule that enforces it.
func toParamRule(r Rule, idx int) param.Rule {
	pr := param.DefaultRule()
	pr.Resource = r.Resource
	pr.Grade = param.Grade(r.Grade)
	pr.Count = r.Count
	pr.DurationInSec = r.IntervalSec
	pr.BurstCount = r.Burst
	pr.ControlBehavior = r.ControlBehavior
	pr.MaxQueueingTimeMs = r.MaxQueueingTimeoutMs
	pr.ParamIdx = idx
	if r.ParamItem != nil && r.ParamItem.Pattern != "" {
		pr.ParamFlowItemList = []param.Item{notMatchItem}
	}
	return pr
}

// compiled is the result of converting one list of gateway rules.
type compiled struct {
	rules  []Rule                   // valid, deduplicated, in input order
	plans  map[string]*resourcePlan // by resource
	params []param.Rule             // all converted rules
	// hasThread: some rule is thread-grade, so Exit has slots to give back.
	hasThread bool
	report    base.LoadReport
}

// compileRules validates, deduplicates and converts rules (RULE_FORMATS.md,
// "Gateway rules become param rules"): per resource, each rule with a
// paramItem gets the next index in input order; the rules without one share
// the index after the last of those and see "$D" there.
func compileRules(rules []Rule) compiled {
	out := compiled{plans: make(map[string]*resourcePlan)}
	type pending struct {
		rule Rule
		slot paramSlot
	}
	withItem := map[string][]pending{}
	withoutItem := map[string][]Rule{}
	var order []string
	seen := map[string][]Rule{}
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			out.report.Rejected = append(out.report.Rejected, base.Rejection{Index: i, Resource: r.Resource, Reason: err.Error()})
			continue
		}
		var slot paramSlot
		if r.ParamItem != nil {
			s, err := compileSlot(*r.ParamItem)
			if err != nil {
				out.report.Rejected = append(out.report.Rejected, base.Rejection{Index: i, Resource: r.Resource, Reason: err.Error()})
				continue
			}
			slot = s
		}
		if dup := func() bool {
			for _, o := range seen[r.Resource] {
				if o.Equal(r) {
					return true
				}
			}
			return false
		}(); dup {
			out.report.Duplicates++
			continue
		}
		r = cloneRule(r)
		if _, ok := seen[r.Resource]; !ok {
			order = append(order, r.Resource)
		}
		seen[r.Resource] = append(seen[r.Resource], r)
		out.rules = append(out.rules, r)
		if r.Grade == int(param.GradeThread) {
			out.hasThread = true
		}
		if r.ParamItem != nil {
			withItem[r.Resource] = append(withItem[r.Resource], pending{r, slot})
		} else {
			withoutItem[r.Resource] = append(withoutItem[r.Resource], r)
		}
	}
	for _, res := range order {
		plan := &resourcePlan{}
		for idx, p := range withItem[res] {
			plan.slots = append(plan.slots, p.slot)
			plan.rules = append(plan.rules, p.rule)
			plan.converted = append(plan.converted, toParamRule(p.rule, idx))
		}
		last := len(plan.slots)
		for _, r := range withoutItem[res] {
			plan.hasDefault = true
			plan.rules = append(plan.rules, r)
			plan.converted = append(plan.converted, toParamRule(r, last))
		}
		out.params = append(out.params, plan.converted...)
		out.plans[res] = plan
	}
	out.report.Loaded = len(out.rules)
	return out
}

func cloneRule(r Rule) Rule {
	if r.ParamItem != nil {
		p := *r.ParamItem
		r.ParamItem = &p
	}
	return r
}

// ToParamRules returns the param rules that enforce the valid rules among
// rules, as the Manager loads them into its private param manager. It is
// exported for tools and tests that want to see the conversion.
func ToParamRules(rules []Rule) []param.Rule {
	return compileRules(rules).params
}
