package converter

import (
	"fmt"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/engine/system"
)

// Flow returns the codec of flow rules (Sentinel FlowRule lists, dashboard
// FlowRuleEntity lists, or the same in YAML). A clusterConfig that is present
// but partial gets flow.DefaultClusterConfig for its missing keys.
func Flow(opts ...Option) codec.Codec[[]flow.Rule] {
	return newCodec(family[flow.Rule]{
		name:     "flow",
		newRule:  flow.DefaultRule,
		validate: flow.Rule.Validate,
		equal:    flow.Rule.Equal,
		resource: func(r flow.Rule) string { return r.Resource },
		bucket:   func(r flow.Rule) string { return r.Resource },
		setup: func(d *decoder) {
			setDefault(d, flow.DefaultClusterConfig)
		},
	}, opts)
}

// Degrade returns the codec of degrade (circuit-breaker) rules.
func Degrade(opts ...Option) codec.Codec[[]degrade.Rule] {
	return newCodec(family[degrade.Rule]{
		name:     "degrade",
		newRule:  degrade.DefaultRule,
		validate: degrade.Rule.Validate,
		equal:    degrade.Rule.Equal,
		resource: func(r degrade.Rule) string { return r.Resource },
		bucket:   func(r degrade.Rule) string { return r.Resource },
	}, opts)
}

// System returns the codec of system rules. Every threshold that is missing
// stays -1 (not set); system rules are never rejected.
func System(opts ...Option) codec.Codec[[]system.Rule] {
	return newCodec(family[system.Rule]{
		name:     "system",
		newRule:  system.DefaultRule,
		validate: system.Rule.Validate,
		equal:    system.Rule.Equal,
		resource: func(r system.Rule) string { return r.Resource },
		bucket:   func(r system.Rule) string { return fmt.Sprint(r.Key()) },
	}, opts)
}

// Authority returns the codec of authority (origin white/black list) rules.
// It also reads the dashboard's entity format {"id":..,"app":..,"rule":{...}}
// and says so in Report.Notes; with WithDashboardFormat, Encode writes that
// format ({"id":..,"rule":{...}}).
func Authority(opts ...Option) codec.Codec[[]authority.Rule] {
	return newCodec(family[authority.Rule]{
		name:     "authority",
		newRule:  authority.DefaultRule,
		validate: authority.Rule.Validate,
		equal:    authority.Rule.Equal,
		resource: func(r authority.Rule) string { return r.Resource },
		bucket:   func(r authority.Rule) string { return r.Resource },
		entity:   true,
		encode: func(o options, rules []authority.Rule) ([]byte, error) {
			if o.dashboard {
				return encodeEntities(rules, func(r authority.Rule) int64 { return r.ID })
			}
			return encodeJSON(rules)
		},
	}, opts)
}

// Param returns the codec of hot-parameter (ParamFlowRule) rules. It also
// reads the dashboard's entity format {"id":..,"app":..,"rule":{...}}. A rule
// without paramIdx is rejected: Sentinel has no default for it. A
// clusterConfig that is present but partial gets param.DefaultClusterConfig.
// A hot item (paramFlowItemList element) that cannot be read is dropped with
// a note; the rule loads without it, as in Sentinel. With WithDashboardFormat,
// Encode writes the entity format ({"id":..,"rule":{...}}).
func Param(opts ...Option) codec.Codec[[]param.Rule] {
	return newCodec(family[param.Rule]{
		name:     "param-flow",
		newRule:  param.DefaultRule,
		validate: param.Rule.Validate,
		equal:    param.Rule.Equal,
		resource: func(r param.Rule) string { return r.Resource },
		bucket:   func(r param.Rule) string { return r.Resource },
		entity:   true,
		setup: func(d *decoder) {
			setDefault(d, param.DefaultClusterConfig)
			// Sentinel loads a rule without its malformed hot items.
			dropBadElements[param.Item](d)
		},
		fix: func(c fixContext, obj *node, r *param.Rule) {
			if !obj.has("paramIdx") {
				c.st.fail("paramIdx is missing (required: which argument the rule limits)")
			}
		},
		encode: func(o options, rules []param.Rule) ([]byte, error) {
			// Java iterates paramFlowItemList without a null check in
			// places: write [] rather than null.
			fixed := make([]param.Rule, len(rules))
			for i, r := range rules {
				if r.ParamFlowItemList == nil {
					r.ParamFlowItemList = []param.Item{}
				}
				fixed[i] = r
			}
			if o.dashboard {
				return encodeEntities(fixed, func(r param.Rule) int64 { return r.ID })
			}
			return encodeJSON(fixed)
		},
	}, opts)
}

// entity is the dashboard's wrapper of param and authority rules. The
// dashboard's app, ip and port are not known here and are left out.
type entity[T any] struct {
	ID   int64 `json:"id,omitempty"`
	Rule T     `json:"rule"`
}

func encodeEntities[T any](rules []T, id func(T) int64) ([]byte, error) {
	out := make([]entity[T], len(rules))
	for i, r := range rules {
		out[i] = entity[T]{ID: id(r), Rule: r}
	}
	return encodeJSON(out)
}
