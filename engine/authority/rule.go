package authority

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/rulesync/rulesync/engine/base"
)

// Strategy is whether limitApp lists the allowed or the refused origins.
type Strategy int

// Authority strategies, with Sentinel's numbers.
const (
	StrategyWhite Strategy = 0
	StrategyBlack Strategy = 1
)

// Rule is a Sentinel authority rule: LimitApp is a comma-separated list of origins.
type Rule struct {
	ID       int64    `json:"id,omitempty"`
	Resource string   `json:"resource"`
	LimitApp string   `json:"limitApp"`
	Strategy Strategy `json:"strategy"`
	Regex    bool     `json:"regex,omitempty"`
}

// DefaultRule returns a white-list rule with nothing set.
func DefaultRule() Rule { return Rule{} }

// Key returns r with id dropped.
func (r Rule) Key() Rule { r.ID = 0; return r }

// Equal reports whether r and o mean the same rule.
func (r Rule) Equal(o Rule) bool { return r.Key() == o.Key() }

// ErrInvalidRule is wrapped by every validation error of this package.
var ErrInvalidRule = errors.New("invalid authority rule")

// Validate reports the first thing Sentinel would reject in r.
func (r Rule) Validate() error {
	switch {
	case strings.TrimSpace(r.Resource) == "":
		return fmt.Errorf("%w: resource is blank", ErrInvalidRule)
	case strings.TrimSpace(r.LimitApp) == "":
		return fmt.Errorf("%w: limitApp (the origin list) is blank", ErrInvalidRule)
	case r.Strategy != StrategyWhite && r.Strategy != StrategyBlack:
		return fmt.Errorf("%w: strategy %d is not 0 (white) or 1 (black)", ErrInvalidRule, r.Strategy)
	}
	if r.Regex {
		if _, err := regexp.Compile(r.Resource); err != nil {
			return fmt.Errorf("%w: resource %q is not a valid regular expression: %v", ErrInvalidRule, r.Resource, err)
		}
	}
	return nil
}

var _ base.Validator = Rule{}
