package gateway

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
)

// Resource modes, with Sentinel's numbers.
const (
	ResourceModeRouteID       = 0 // resource is a route id
	ResourceModeCustomAPIName = 1 // resource is the name of an API definition
)

// Parse strategies: where a gateway rule reads its parameter from.
const (
	ParseClientIP = 0
	ParseHost     = 1
	ParseHeader   = 2
	ParseURLParam = 3
	ParseCookie   = 4
)

// Match strategies for parameter values.
const (
	ParamMatchExact    = 0
	ParamMatchPrefix   = 1
	ParamMatchRegex    = 2
	ParamMatchContains = 3
)

// Match strategies for API path predicates.
const (
	URLMatchExact  = 0
	URLMatchPrefix = 1
	URLMatchRegex  = 2
)

// Markers placed in the argument array (Sentinel's constants).
const (
	DefaultParam    = "$D"  // the argument seen by rules without a paramItem
	NotMatchParam   = "$NM" // the argument for a value that failed the item's pattern
	notMatchPassCnt = 10_000_000
)

// ParamItem says which request attribute a gateway rule limits by.
type ParamItem struct {
	ParseStrategy int    `json:"parseStrategy"`
	FieldName     string `json:"fieldName,omitempty"`
	Pattern       string `json:"pattern,omitempty"`
	MatchStrategy int    `json:"matchStrategy"`
}

// Rule is a Sentinel GatewayFlowRule.
type Rule struct {
	Resource             string               `json:"resource"`
	ResourceMode         int                  `json:"resourceMode"`
	Grade                int                  `json:"grade"`
	Count                float64              `json:"count"`
	IntervalSec          int64                `json:"intervalSec"`
	ControlBehavior      base.ControlBehavior `json:"controlBehavior"`
	Burst                int                  `json:"burst"`
	MaxQueueingTimeoutMs int                  `json:"maxQueueingTimeoutMs"`
	ParamItem            *ParamItem           `json:"paramItem,omitempty"`
}

// DefaultRule returns a rule with Sentinel's defaults (route mode, QPS, 1 s, 500 ms queue).
func DefaultRule() Rule {
	return Rule{Grade: 1, IntervalSec: 1, MaxQueueingTimeoutMs: 500}
}

// Equal reports whether r and o mean the same rule.
func (r Rule) Equal(o Rule) bool {
	if (r.ParamItem == nil) != (o.ParamItem == nil) {
		return false
	}
	if r.ParamItem != nil && *r.ParamItem != *o.ParamItem {
		return false
	}
	r.ParamItem, o.ParamItem = nil, nil
	return r == o
}

// ErrInvalidRule is wrapped by every validation error of gateway rules.
var ErrInvalidRule = errors.New("invalid gateway flow rule")

// ErrInvalidAPI is wrapped by every validation error of API definitions.
var ErrInvalidAPI = errors.New("invalid API definition")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRule, fmt.Sprintf(format, args...))
}

// Validate reports the first thing Sentinel would reject in r.
func (r Rule) Validate() error {
	switch {
	case strings.TrimSpace(r.Resource) == "":
		return invalid("resource is blank")
	case r.ResourceMode != ResourceModeRouteID && r.ResourceMode != ResourceModeCustomAPIName:
		return invalid("resourceMode %d is not 0 (route) or 1 (custom API)", r.ResourceMode)
	case r.Grade != 0 && r.Grade != 1:
		return invalid("grade %d is not 0 (thread) or 1 (QPS)", r.Grade)
	case !kernel.Finite(r.Count) || r.Count < 0:
		return invalid("count %v is not a finite number >= 0", r.Count)
	case r.Burst < 0:
		return invalid("burst %d < 0", r.Burst)
	case r.ControlBehavior < 0 || r.ControlBehavior > base.BehaviorWarmUpRateLimiter:
		return invalid("controlBehavior %d is not 0..3", r.ControlBehavior)
	case r.IntervalSec <= 0:
		return invalid("intervalSec %d must be > 0", r.IntervalSec)
	case r.MaxQueueingTimeoutMs < 0:
		return invalid("maxQueueingTimeoutMs %d < 0", r.MaxQueueingTimeoutMs)
	}
	if p := r.ParamItem; p != nil {
		switch {
		case p.ParseStrategy < ParseClientIP || p.ParseStrategy > ParseCookie:
			return invalid("paramItem.parseStrategy %d is not 0..4", p.ParseStrategy)
		case p.ParseStrategy >= ParseHeader && strings.TrimSpace(p.FieldName) == "":
			return invalid("paramItem.fieldName is required for parseStrategy %d", p.ParseStrategy)
		case p.Pattern != "" && (p.MatchStrategy < ParamMatchExact || p.MatchStrategy > ParamMatchContains):
			return invalid("paramItem.matchStrategy %d is not 0..3", p.MatchStrategy)
		}
	}
	return nil
}

// PredicateItem is one API path predicate: a path item (Pattern + MatchStrategy)
// or a group of items (Items). Spring Cloud Alibaba tells them apart by the key
// "pattern" vs "items".
type PredicateItem struct {
	Pattern       string          `json:"pattern,omitempty"`
	MatchStrategy int             `json:"matchStrategy"`
	Items         []PredicateItem `json:"items,omitempty"`
}

// IsGroup reports whether p is a group item.
func (p PredicateItem) IsGroup() bool { return p.Items != nil }

// APIDefinition is a named group of request paths (Sentinel's ApiDefinition).
type APIDefinition struct {
	APIName        string          `json:"apiName"`
	PredicateItems []PredicateItem `json:"predicateItems"`
}

// Validate reports what is wrong with d.
func (d APIDefinition) Validate() error {
	if strings.TrimSpace(d.APIName) == "" {
		return fmt.Errorf("%w: apiName is blank", ErrInvalidAPI)
	}
	if d.PredicateItems == nil {
		return fmt.Errorf("%w: %s: predicateItems is missing", ErrInvalidAPI, d.APIName)
	}
	return validateItems(d.APIName, d.PredicateItems)
}

func validateItems(api string, items []PredicateItem) error {
	for i, it := range items {
		if it.IsGroup() {
			if err := validateItems(api, it.Items); err != nil {
				return err
			}
			continue
		}
		if it.MatchStrategy < URLMatchExact || it.MatchStrategy > URLMatchRegex {
			return fmt.Errorf("%w: %s: predicate %d: matchStrategy %d is not 0..2", ErrInvalidAPI, api, i, it.MatchStrategy)
		}
	}
	return nil
}
