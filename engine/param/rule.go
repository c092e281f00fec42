package param

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
)

// Grade is what a hot-param rule counts per value.
type Grade int

// Param grades, with Sentinel's numbers.
const (
	GradeThread Grade = 0
	GradeQPS    Grade = 1
)

// Item is an exception: a parameter value with its own threshold.
type Item struct {
	Object    string `json:"object"`    // the value in string form
	Count     int64  `json:"count"`     // the value's own threshold
	ClassType string `json:"classType"` // int, long, double, float, byte, short, boolean, char, or anything else for String
}

// ClusterConfig is a hot-param rule's cluster-mode settings.
// Unlike the flow rule's, FallbackToLocalWhenFail defaults to false.
type ClusterConfig struct {
	FlowID                  int64 `json:"flowId"`
	ThresholdType           int   `json:"thresholdType"`
	FallbackToLocalWhenFail bool  `json:"fallbackToLocalWhenFail"`
	SampleCount             int   `json:"sampleCount"`
	WindowIntervalMs        int   `json:"windowIntervalMs"`
}

// DefaultClusterConfig is a ClusterConfig with Sentinel's defaults.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{SampleCount: 10, WindowIntervalMs: 1000}
}

// Rule is a Sentinel hot-parameter (ParamFlowRule) rule.
type Rule struct {
	ID                int64                `json:"id,omitempty"`
	Resource          string               `json:"resource"`
	LimitApp          string               `json:"limitApp"`
	Grade             Grade                `json:"grade"`
	ParamIdx          int                  `json:"paramIdx"` // negative counts from the end of the args
	Count             float64              `json:"count"`
	ControlBehavior   base.ControlBehavior `json:"controlBehavior"`
	MaxQueueingTimeMs int                  `json:"maxQueueingTimeMs"`
	BurstCount        int                  `json:"burstCount"`
	DurationInSec     int64                `json:"durationInSec"`
	ParamFlowItemList []Item               `json:"paramFlowItemList"`
	ClusterMode       bool                 `json:"clusterMode"`
	ClusterConfig     ClusterConfig        `json:"clusterConfig,omitzero"`
	Regex             bool                 `json:"regex,omitempty"`
}

// DefaultRule returns a rule with Sentinel's defaults (QPS, reject, 1 s duration).
func DefaultRule() Rule {
	return Rule{LimitApp: base.LimitAppDefault, Grade: GradeQPS, DurationInSec: 1, ParamFlowItemList: []Item{}}
}

// Equal reports whether r and o mean the same rule (id ignored, items compared in order).
func (r Rule) Equal(o Rule) bool {
	a, b := r, o
	a.ID, b.ID = 0, 0
	a.LimitApp, b.LimitApp = base.NormalizeLimitApp(a.LimitApp), base.NormalizeLimitApp(b.LimitApp)
	if !a.ClusterMode {
		a.ClusterConfig = ClusterConfig{}
	}
	if !b.ClusterMode {
		b.ClusterConfig = ClusterConfig{}
	}
	if !slices.Equal(a.ParamFlowItemList, b.ParamFlowItemList) {
		return false
	}
	a.ParamFlowItemList, b.ParamFlowItemList = nil, nil
	return a.comparable() == b.comparable()
}

type comparableRule struct {
	id              int64
	resource, limit string
	grade           Grade
	idx             int
	count           float64
	behavior        base.ControlBehavior
	queue, burst    int
	duration        int64
	clusterMode     bool
	cluster         ClusterConfig
	regex           bool
}

func (r Rule) comparable() comparableRule {
	return comparableRule{r.ID, r.Resource, r.LimitApp, r.Grade, r.ParamIdx, r.Count, r.ControlBehavior,
		r.MaxQueueingTimeMs, r.BurstCount, r.DurationInSec, r.ClusterMode, r.ClusterConfig, r.Regex}
}

// ErrInvalidRule is wrapped by every validation error of this package.
var ErrInvalidRule = errors.New("invalid param-flow rule")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRule, fmt.Sprintf(format, args...))
}

// Validate reports the first thing Sentinel would reject in r. Bad exception
// items are not an error here: the manager drops them (see ValidItems).
func (r Rule) Validate() error {
	switch {
	case strings.TrimSpace(r.Resource) == "":
		return invalid("resource is blank")
	case !kernel.Finite(r.Count) || r.Count < 0:
		return invalid("count %v is not a finite number >= 0", r.Count)
	case r.Grade != GradeThread && r.Grade != GradeQPS:
		return invalid("grade %d is not 0 (thread) or 1 (QPS)", r.Grade)
	case r.BurstCount < 0:
		return invalid("burstCount %d < 0", r.BurstCount)
	case r.DurationInSec <= 0:
		return invalid("durationInSec %d must be > 0", r.DurationInSec)
	case r.MaxQueueingTimeMs < 0:
		return invalid("maxQueueingTimeMs %d < 0", r.MaxQueueingTimeMs)
	case r.ControlBehavior < 0 || r.ControlBehavior > base.BehaviorWarmUpRateLimiter:
		return invalid("controlBehavior %d is not 0..3", r.ControlBehavior)
	}
	if r.ClusterMode {
		c := r.ClusterConfig
		switch {
		case c.FlowID <= 0:
			return invalid("cluster rule needs clusterConfig.flowId > 0")
		case c.SampleCount <= 0:
			return invalid("clusterConfig.sampleCount must be > 0")
		case c.WindowIntervalMs <= 0 || c.WindowIntervalMs%c.SampleCount != 0:
			return invalid("clusterConfig.windowIntervalMs %d must be > 0 and divisible by sampleCount %d", c.WindowIntervalMs, c.SampleCount)
		}
	}
	return nil
}
