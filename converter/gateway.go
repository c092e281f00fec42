package converter

import (
	"fmt"
	"math"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/gateway"
)

// Seconds per dashboard intervalUnit (0 second, 1 minute, 2 hour, 3 day).
var intervalUnitSec = [...]int64{1, 60, 3600, 86400}

// GatewayFlow returns the codec of gateway flow rules. Besides Sentinel's
// GatewayFlowRule it reads the dashboard's entity format, whose interval and
// intervalUnit become intervalSec (both forms present must agree), and the
// common misspelling maxQueueingTimeMs, read as maxQueueingTimeoutMs when the
// latter is absent (still reported as an unknown key). With
// WithDashboardFormat, Encode writes interval and intervalUnit as well.
func GatewayFlow(opts ...Option) codec.Codec[[]gateway.Rule] {
	return newCodec(family[gateway.Rule]{
		name:     "gateway flow",
		newRule:  gateway.DefaultRule,
		validate: gateway.Rule.Validate,
		equal:    gateway.Rule.Equal,
		resource: func(r gateway.Rule) string { return r.Resource },
		bucket:   func(r gateway.Rule) string { return r.Resource },
		setup: func(d *decoder) {
			// The entity's id, and its interval pair handled by fixGateway.
			ignore[gateway.Rule](d, "id", "interval", "intervalUnit")
			// Java's GatewayParamFlowItem carries the index it was given
			// when converted to a param rule; it is recomputed on load.
			ignore[gateway.ParamItem](d, "index")
		},
		fix:    fixGateway,
		encode: encodeGateway,
	}, opts)
}

func fixGateway(c fixContext, obj *node, r *gateway.Rule) {
	iv, unit := obj.get("interval"), obj.get("intervalUnit")
	hasIv, hasUnit := iv != nil && iv.kind != kindNull, unit != nil && unit.kind != kindNull
	switch {
	case hasIv && !hasUnit:
		c.st.fail("interval needs intervalUnit (0 second, 1 minute, 2 hour, 3 day)")
	case hasUnit && !hasIv:
		c.st.fail("intervalUnit given without interval")
	case hasIv && hasUnit:
		n, ok1 := c.intValue(iv, "interval")
		u, ok2 := c.intValue(unit, "intervalUnit")
		if !ok1 || !ok2 {
			return
		}
		if u < 0 || u >= int64(len(intervalUnitSec)) {
			c.st.fail("intervalUnit %d is not 0 (second), 1 (minute), 2 (hour) or 3 (day)", u)
			return
		}
		mul := intervalUnitSec[u]
		if n > math.MaxInt64/mul || n < math.MinInt64/mul {
			c.st.fail("interval %d x intervalUnit %d overflows", n, u)
			return
		}
		sec := n * mul
		if obj.has("intervalSec") && r.IntervalSec != sec {
			c.st.fail("intervalSec %d disagrees with interval %d x intervalUnit %d (= %d s)", r.IntervalSec, n, u, sec)
			return
		}
		r.IntervalSec = sec
	}
	if m := obj.get("maxQueueingTimeMs"); m != nil && m.kind != kindNull && !obj.has("maxQueueingTimeoutMs") {
		v, ok := c.intValue(m, "maxQueueingTimeMs")
		if !ok {
			return
		}
		if v > math.MaxInt32 || v < math.MinInt32 {
			c.st.fail("maxQueueingTimeMs: %d is out of range", v)
			return
		}
		r.MaxQueueingTimeoutMs = int(v)
		*c.st.notes = append(*c.st.notes, fmt.Sprintf("rule %d: read misspelled key maxQueueingTimeMs as maxQueueingTimeoutMs", c.st.index))
	}
}

// dashboardGatewayRule is the dashboard's GatewayFlowRuleEntity shape, plus
// intervalSec so that Sentinel apps reading the same key understand it too.
type dashboardGatewayRule struct {
	Resource             string               `json:"resource"`
	ResourceMode         int                  `json:"resourceMode"`
	Grade                int                  `json:"grade"`
	Count                float64              `json:"count"`
	Interval             int64                `json:"interval"`
	IntervalUnit         int                  `json:"intervalUnit"`
	IntervalSec          int64                `json:"intervalSec"`
	ControlBehavior      base.ControlBehavior `json:"controlBehavior"`
	Burst                int                  `json:"burst"`
	MaxQueueingTimeoutMs int                  `json:"maxQueueingTimeoutMs"`
	ParamItem            *gateway.ParamItem   `json:"paramItem,omitempty"`
}

func encodeGateway(o options, rules []gateway.Rule) ([]byte, error) {
	if !o.dashboard {
		return encodeJSON(rules)
	}
	out := make([]dashboardGatewayRule, len(rules))
	for i, r := range rules {
		n, u := splitInterval(r.IntervalSec)
		out[i] = dashboardGatewayRule{
			Resource: r.Resource, ResourceMode: r.ResourceMode, Grade: r.Grade, Count: r.Count,
			Interval: n, IntervalUnit: u, IntervalSec: r.IntervalSec,
			ControlBehavior: r.ControlBehavior, Burst: r.Burst,
			MaxQueueingTimeoutMs: r.MaxQueueingTimeoutMs, ParamItem: r.ParamItem,
		}
	}
	return encodeJSON(out)
}

// splitInterval expresses sec in the largest dashboard unit that divides it
// exactly. Zero and negative values (invalid anyway) stay in seconds.
func splitInterval(sec int64) (interval int64, unit int) {
	if sec <= 0 {
		return sec, 0
	}
	for u := len(intervalUnitSec) - 1; u > 0; u-- {
		if sec%intervalUnitSec[u] == 0 {
			return sec / intervalUnitSec[u], u
		}
	}
	return sec, 0
}

// APIDefinitions returns the codec of gateway API definitions (Sentinel's
// ApiDefinition lists and the dashboard's ApiDefinitionEntity lists). A
// predicate item with the key "pattern" is a path item, one with "items" a
// group; an item with both or neither fails its definition.
func APIDefinitions(opts ...Option) codec.Codec[[]gateway.APIDefinition] {
	return newCodec(family[gateway.APIDefinition]{
		name:     "API definition",
		newRule:  func() gateway.APIDefinition { return gateway.APIDefinition{} },
		validate: gateway.APIDefinition.Validate,
		equal:    gateway.APIDefinition.Equal,
		resource: func(d gateway.APIDefinition) string { return d.APIName },
		bucket:   func(d gateway.APIDefinition) string { return d.APIName },
		setup: func(d *decoder) {
			ignore[gateway.APIDefinition](d, "id")
			check[gateway.PredicateItem](d, func(n *node) string {
				p, g := n.has("pattern"), n.has("items")
				switch {
				case p && g:
					return `has both "pattern" (path item) and "items" (group item)`
				case !p && !g:
					return `has neither "pattern" (path item) nor "items" (group item)`
				}
				return ""
			})
		},
		encode: func(_ options, defs []gateway.APIDefinition) ([]byte, error) {
			out := make([]apiOut, len(defs))
			for i, d := range defs {
				out[i] = apiOut{APIName: d.APIName, PredicateItems: predicatesOut(d.PredicateItems)}
			}
			return encodeJSON(out)
		},
	}, opts)
}

// apiOut and predicateOut fix the written shape: a path item always has
// "pattern" (even empty) and no "items"; a group item only "items". Readers
// tell the two apart by those keys.
type apiOut struct {
	APIName        string         `json:"apiName"`
	PredicateItems []predicateOut `json:"predicateItems"`
}

type predicateOut struct {
	Pattern       *string        `json:"pattern,omitempty"`
	MatchStrategy *int           `json:"matchStrategy,omitempty"`
	Items         []predicateOut `json:"items,omitzero"`
}

func predicatesOut(items []gateway.PredicateItem) []predicateOut {
	out := make([]predicateOut, len(items))
	for i, it := range items {
		if it.IsGroup() {
			out[i] = predicateOut{Items: predicatesOut(it.Items)}
			if len(it.Items) == 0 {
				// omitempty would drop an empty group's only key.
				out[i].Items = []predicateOut{}
			}
			continue
		}
		out[i] = predicateOut{Pattern: &it.Pattern, MatchStrategy: &it.MatchStrategy}
	}
	return out
}
