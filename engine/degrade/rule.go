package degrade

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
)

// Grade is what a degrade rule (circuit breaker) measures.
type Grade int

// Degrade grades, with Sentinel's numbers.
const (
	GradeRT             Grade = 0 // slow-call ratio; count is the max response time in ms
	GradeExceptionRatio Grade = 1 // error ratio; count in [0, 1]
	GradeExceptionCount Grade = 2 // error count in the stat interval
)

// Rule is a Sentinel degrade rule.
type Rule struct {
	ID                 int64   `json:"id,omitempty"`
	Resource           string  `json:"resource"`
	LimitApp           string  `json:"limitApp"`
	Grade              Grade   `json:"grade"`
	Count              float64 `json:"count"`
	TimeWindow         int     `json:"timeWindow"` // seconds the breaker stays open
	MinRequestAmount   int     `json:"minRequestAmount"`
	SlowRatioThreshold float64 `json:"slowRatioThreshold"`
	StatIntervalMs     int     `json:"statIntervalMs"`
	Regex              bool    `json:"regex,omitempty"`
}

// DefaultRule returns a rule with Sentinel's defaults.
func DefaultRule() Rule {
	return Rule{LimitApp: base.LimitAppDefault, MinRequestAmount: 5, SlowRatioThreshold: 1.0, StatIntervalMs: 1000}
}

// Key returns r with id dropped and limitApp normalized; equal rules have == keys.
func (r Rule) Key() Rule {
	r.ID = 0
	r.LimitApp = base.NormalizeLimitApp(r.LimitApp)
	return r
}

// Equal reports whether r and o mean the same rule.
func (r Rule) Equal(o Rule) bool { return r.Key() == o.Key() }

// ErrInvalidRule is wrapped by every validation error of this package.
var ErrInvalidRule = errors.New("invalid degrade rule")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRule, fmt.Sprintf(format, args...))
}

// Validate reports the first thing Sentinel would reject in r.
func (r Rule) Validate() error {
	switch {
	case strings.TrimSpace(r.Resource) == "":
		return invalid("resource is blank")
	case r.Grade < GradeRT || r.Grade > GradeExceptionCount:
		return invalid("grade %d is not 0, 1 or 2", r.Grade)
	case !kernel.Finite(r.Count) || r.Count < 0:
		return invalid("count %v is not a finite number >= 0", r.Count)
	case r.TimeWindow <= 0:
		return invalid("timeWindow %d must be > 0", r.TimeWindow)
	case r.MinRequestAmount <= 0:
		return invalid("minRequestAmount %d must be > 0", r.MinRequestAmount)
	case r.StatIntervalMs <= 0:
		return invalid("statIntervalMs %d must be > 0", r.StatIntervalMs)
	case r.Grade == GradeRT && (!kernel.Finite(r.SlowRatioThreshold) || r.SlowRatioThreshold < 0 || r.SlowRatioThreshold > 1):
		return invalid("slowRatioThreshold %v is not in [0, 1]", r.SlowRatioThreshold)
	case r.Grade == GradeExceptionRatio && r.Count > 1:
		return invalid("error-ratio count %v > 1", r.Count)
	}
	if r.Regex {
		if _, err := regexp.Compile(r.Resource); err != nil {
			return invalid("resource %q is not a valid regular expression: %v", r.Resource, err)
		}
	}
	return nil
}
