package converter

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rulesync/rulesync/codec"
)

// Rule-type names, as Spring Cloud Alibaba's datasource configuration spells
// them (rule-type: flow, degrade, ...).
const (
	RuleTypeFlow        = "flow"
	RuleTypeDegrade     = "degrade"
	RuleTypeParamFlow   = "param-flow"
	RuleTypeSystem      = "system"
	RuleTypeAuthority   = "authority"
	RuleTypeGatewayFlow = "gw-flow"
	RuleTypeGatewayAPI  = "gw-api-group"
)

// RuleTypes lists the rule-type names ByRuleType knows, in a fixed order.
func RuleTypes() []string {
	return []string{RuleTypeFlow, RuleTypeDegrade, RuleTypeParamFlow, RuleTypeSystem,
		RuleTypeAuthority, RuleTypeGatewayFlow, RuleTypeGatewayAPI}
}

// ErrUnknownRuleType is returned by ByRuleType for a name it does not know.
var ErrUnknownRuleType = errors.New("converter: unknown rule type")

// ByRuleType returns the codec of a rule family chosen at run time (a CLI
// flag, a rule-type key in a configuration file), with the rule lists seen as
// any: Decode returns the family's typed slice (e.g. []flow.Rule) and Encode
// and Equal expect one. Names are matched case-insensitively.
func ByRuleType(ruleType string, opts ...Option) (codec.Codec[any], error) {
	switch strings.ToLower(strings.TrimSpace(ruleType)) {
	case RuleTypeFlow:
		return untyped(Flow(opts...)), nil
	case RuleTypeDegrade:
		return untyped(Degrade(opts...)), nil
	case RuleTypeParamFlow:
		return untyped(Param(opts...)), nil
	case RuleTypeSystem:
		return untyped(System(opts...)), nil
	case RuleTypeAuthority:
		return untyped(Authority(opts...)), nil
	case RuleTypeGatewayFlow:
		return untyped(GatewayFlow(opts...)), nil
	case RuleTypeGatewayAPI:
		return untyped(APIDefinitions(opts...)), nil
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownRuleType, ruleType, strings.Join(RuleTypes(), ", "))
}

// anyCodec adapts a typed codec to Codec[any].
type anyCodec[T any] struct{ c codec.Codec[[]T] }

func untyped[T any](c codec.Codec[[]T]) codec.Codec[any] { return anyCodec[T]{c} }

func (a anyCodec[T]) Decode(data []byte) (any, codec.Report, error) {
	rules, rep, err := a.c.Decode(data)
	if err != nil {
		return nil, rep, err
	}
	return rules, rep, nil
}

func (a anyCodec[T]) Encode(v any) ([]byte, error) {
	if v == nil {
		return a.c.Encode(nil)
	}
	rules, ok := v.([]T)
	if !ok {
		return nil, fmt.Errorf("converter: encode: got %T, want %T", v, rules)
	}
	return a.c.Encode(rules)
}

func (a anyCodec[T]) Equal(x, y any) bool {
	rx, okx := asRules[T](x)
	ry, oky := asRules[T](y)
	return okx && oky && a.c.Equal(rx, ry)
}

func asRules[T any](v any) ([]T, bool) {
	if v == nil {
		return nil, true
	}
	r, ok := v.([]T)
	return r, ok
}
