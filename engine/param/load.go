package param

import (
	"math"
	"regexp"
	"slices"
	"strconv"

	"github.com/rulesync/rulesync/engine/base"
)

// maxDurationSec bounds durationInSec (about 35 years) so that milliseconds
// and products of them cannot overflow.
const maxDurationSec = 1 << 30

// mode is how a compiled rule checks a value.
type mode uint8

const (
	modeOff      mode = iota // a cluster rule without local fallback: never blocks
	modeBucket               // QPS grade, token bucket
	modeThrottle             // QPS grade, rate limiter
	modeThread               // thread grade
)

// compiled is a rule ready for the hot path.
type compiled struct {
	rule     Rule
	key      ruleKey
	order    int // position among the rules in force
	idx      int
	mode     mode
	cluster  bool           // a QPS-grade cluster rule: a token service decides first
	count    int64          // the rule's threshold in whole tokens
	burst    int64          // extra tokens of the bucket
	durMs    int64          // the bucket's refill period / the rate limiter's unit
	maxQueue int64          // ms a rate-limited call may wait
	items    *itemTable     // exception thresholds; nil when none
	re       *regexp.Regexp // resource pattern of a regex rule
	st       *ruleState
}

// ruleKey identifies a rule up to Rule.Equal, so that Load finds the state of
// an equal previous rule and collapses duplicates with map lookups.
type ruleKey struct {
	c     comparableRule
	items string
}

func keyOfRule(r Rule) ruleKey {
	n := r
	n.ID = 0
	n.LimitApp = base.NormalizeLimitApp(n.LimitApp)
	if !n.ClusterMode {
		n.ClusterConfig = ClusterConfig{}
	}
	if len(r.ParamFlowItemList) == 0 {
		return ruleKey{c: n.comparable()}
	}
	b := make([]byte, 0, 32*len(r.ParamFlowItemList))
	for _, it := range r.ParamFlowItemList {
		// Length-prefixed so that no two item lists encode alike.
		b = strconv.AppendInt(b, int64(len(it.Object)), 10)
		b = append(b, ':')
		b = append(b, it.Object...)
		b = strconv.AppendInt(b, int64(len(it.ClassType)), 10)
		b = append(b, ':')
		b = append(b, it.ClassType...)
		b = strconv.AppendInt(b, it.Count, 10)
		b = append(b, ';')
	}
	return ruleKey{c: n.comparable(), items: string(b)}
}

func (m *Manager) capacity(r Rule) int {
	if m.opts.maxValues > 0 {
		return m.opts.maxValues
	}
	if r.DurationInSec >= maxTrackedValues/baseTrackedValues {
		return maxTrackedValues
	}
	return baseTrackedValues * int(r.DurationInSec)
}

// Load replaces the rules in force. Invalid rules (Rule.Validate, or a regex
// resource that does not compile) are skipped and reported; rules equal to an
// earlier one in rules are dropped as duplicates; a rule equal to one already
// in force keeps that rule's per-value state (buckets, rate-limiter slots,
// concurrency counts). Exception items that do not parse are dropped and
// logged, and the rule loads without them (see Rule.ValidItems).
func (m *Manager) Load(rules []Rule) base.LoadReport {
	m.mu.Lock()
	defer m.mu.Unlock()

	old := m.set.Load().all
	prev := make(map[ruleKey]*compiled, len(old))
	for _, c := range old {
		prev[c.key] = c
	}

	var rep base.LoadReport
	seen := make(map[ruleKey]struct{}, len(rules))
	all := make([]*compiled, 0, len(rules))
	slab := make([]compiled, 0, len(rules)) // one allocation for every compiled rule
	for i, r := range rules {
		err := r.Validate()
		if err == nil && math.IsNaN(r.Count) { // NaN passes the "< 0" test of Validate
			err = invalid("count is NaN")
		}
		if err != nil {
			rep.Rejected = append(rep.Rejected, base.Rejection{Index: i, Resource: r.Resource, Reason: err.Error()})
			continue
		}
		var re *regexp.Regexp
		if r.Regex {
			var err error
			if re, err = regexp.Compile(`^(?:` + r.Resource + `)$`); err != nil {
				reason := invalid("resource %q is not a valid regular expression: %v", r.Resource, err).Error()
				rep.Rejected = append(rep.Rejected, base.Rejection{Index: i, Resource: r.Resource, Reason: reason})
				continue
			}
		}
		k := keyOfRule(r)
		if _, dup := seen[k]; dup {
			rep.Duplicates++
			continue
		}
		seen[k] = struct{}{}

		var (
			st    *ruleState
			items *itemTable
		)
		if p, kept := prev[k]; kept {
			// An equal rule: same items, so its parsed items (and the dropped-item
			// warnings already logged for them) carry over with its state.
			rep.Kept++
			delete(prev, k) // one rule in force per state
			st, items = p.st, p.items
			r.ParamFlowItemList = p.rule.ParamFlowItemList // equal and never modified
		} else {
			var dropped []error
			items, dropped = compileItems(r)
			for _, err := range dropped {
				m.opts.logger.Warn("param: exception item dropped", "index", i, "resource", r.Resource, "err", err)
			}
			st = &ruleState{capacity: m.capacity(r), shards: m.opts.shards}
			r.ParamFlowItemList = slices.Clone(r.ParamFlowItemList)
		}
		slab = append(slab, compiled{
			rule:     r,
			key:      k,
			order:    len(all),
			idx:      r.ParamIdx,
			mode:     modeOf(r),
			cluster:  r.ClusterMode && r.Grade == GradeQPS,
			count:    threshold(r.Count),
			burst:    min(int64(r.BurstCount), math.MaxInt64/4),
			durMs:    min(r.DurationInSec, maxDurationSec) * 1000,
			maxQueue: int64(r.MaxQueueingTimeMs),
			items:    items,
			re:       re,
			st:       st,
		})
		all = append(all, &slab[len(slab)-1])
	}
	rep.Loaded = len(all)
	m.set.Store(newRuleSet(all))
	return rep
}

func modeOf(r Rule) mode {
	switch {
	case r.Grade == GradeThread: // Sentinel has no cluster check for this grade
		return modeThread
	case r.ClusterMode && !r.ClusterConfig.FallbackToLocalWhenFail:
		return modeOff
	case r.ControlBehavior == base.BehaviorRateLimiter:
		return modeThrottle
	}
	return modeBucket
}
