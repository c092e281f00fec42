package flow

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
)

// Grade is what a flow rule counts.
type Grade int

// Flow grades, with Sentinel's numbers.
const (
	GradeThread Grade = 0 // concurrent calls
	GradeQPS    Grade = 1 // calls per second
)

// Strategy is whose statistics a flow rule reads.
type Strategy int

// Flow strategies, with Sentinel's numbers.
const (
	StrategyDirect Strategy = 0 // the resource itself
	StrategyRelate Strategy = 1 // another resource (refResource)
	StrategyChain  Strategy = 2 // the resource, only when entered through entrance refResource
)

// Cluster threshold types and strategies, with Sentinel's numbers.
const (
	ThresholdAvgLocal = 0 // count x connected clients of the namespace
	ThresholdGlobal   = 1
)

// ClusterConfig is a flow rule's cluster-mode settings (Sentinel's ClusterFlowConfig).
type ClusterConfig struct {
	FlowID                  int64 `json:"flowId"`
	ThresholdType           int   `json:"thresholdType"`
	FallbackToLocalWhenFail bool  `json:"fallbackToLocalWhenFail"`
	Strategy                int   `json:"strategy"`
	SampleCount             int   `json:"sampleCount"`
	WindowIntervalMs        int   `json:"windowIntervalMs"`
	ResourceTimeout         int64 `json:"resourceTimeout"`
	ResourceTimeoutStrategy int   `json:"resourceTimeoutStrategy"`
	AcquireRefuseStrategy   int   `json:"acquireRefuseStrategy"`
	ClientOfflineTime       int64 `json:"clientOfflineTime"`
}

// DefaultClusterConfig is a ClusterConfig with Sentinel's defaults.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{
		FallbackToLocalWhenFail: true,
		SampleCount:             10,
		WindowIntervalMs:        1000,
		ResourceTimeout:         2000,
		ClientOfflineTime:       2000,
	}
}

// Rule is a Sentinel flow rule. Field names and numbers follow Sentinel 1.8.
// Note that the zero value's Grade is GradeThread: use DefaultRule for Sentinel's
// defaults (QPS, warm-up 10 s, queueing 500 ms).
type Rule struct {
	ID                int64                `json:"id,omitempty"`
	Resource          string               `json:"resource"`
	LimitApp          string               `json:"limitApp"`
	Grade             Grade                `json:"grade"`
	Count             float64              `json:"count"`
	Strategy          Strategy             `json:"strategy"`
	RefResource       string               `json:"refResource,omitempty"`
	ControlBehavior   base.ControlBehavior `json:"controlBehavior"`
	WarmUpPeriodSec   int                  `json:"warmUpPeriodSec"`
	MaxQueueingTimeMs int                  `json:"maxQueueingTimeMs"`
	ClusterMode       bool                 `json:"clusterMode"`
	ClusterConfig     ClusterConfig        `json:"clusterConfig,omitzero"`
	Regex             bool                 `json:"regex,omitempty"`
}

// DefaultRule returns a rule with Sentinel's defaults: limitApp "default", QPS,
// direct, reject, warm-up period 10 s, queueing time 500 ms.
func DefaultRule() Rule {
	return Rule{
		LimitApp:          base.LimitAppDefault,
		Grade:             GradeQPS,
		WarmUpPeriodSec:   10,
		MaxQueueingTimeMs: 500,
	}
}

// Key returns the rule with the fields that do not change its meaning
// normalized (id dropped, blank limitApp as "default"), so that two rules are
// equal exactly when their keys are ==.
func (r Rule) Key() Rule {
	r.ID = 0
	r.LimitApp = base.NormalizeLimitApp(r.LimitApp)
	if !r.ClusterMode {
		r.ClusterConfig = ClusterConfig{}
	}
	return r
}

// Equal reports whether r and o mean the same rule (id is ignored).
func (r Rule) Equal(o Rule) bool { return r.Key() == o.Key() }

// ErrInvalidRule is wrapped by every validation error of this package.
var ErrInvalidRule = errors.New("invalid flow rule")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRule, fmt.Sprintf(format, args...))
}

// Validate reports the first thing Sentinel would reject in r.
func (r Rule) Validate() error {
	switch {
	case strings.TrimSpace(r.Resource) == "":
		return invalid("resource is blank")
	case !kernel.Finite(r.Count) || r.Count < 0:
		return invalid("count %v is not a finite number >= 0", r.Count)
	case r.Grade != GradeThread && r.Grade != GradeQPS:
		return invalid("grade %d is not 0 (thread) or 1 (QPS)", r.Grade)
	case r.Strategy < 0 || r.Strategy > StrategyChain:
		return invalid("strategy %d is not 0, 1 or 2", r.Strategy)
	case r.ControlBehavior < 0 || r.ControlBehavior > base.BehaviorWarmUpRateLimiter:
		return invalid("controlBehavior %d is not 0..3", r.ControlBehavior)
	case r.Strategy != StrategyDirect && strings.TrimSpace(r.RefResource) == "":
		return invalid("strategy %d needs refResource", r.Strategy)
	}
	if r.ControlBehavior == base.BehaviorWarmUp || r.ControlBehavior == base.BehaviorWarmUpRateLimiter {
		if r.WarmUpPeriodSec <= 0 {
			return invalid("warm-up needs warmUpPeriodSec > 0, got %d", r.WarmUpPeriodSec)
		}
	}
	if r.ControlBehavior == base.BehaviorRateLimiter || r.ControlBehavior == base.BehaviorWarmUpRateLimiter {
		if r.MaxQueueingTimeMs <= 0 {
			return invalid("rate limiter needs maxQueueingTimeMs > 0, got %d", r.MaxQueueingTimeMs)
		}
	}
	if r.Regex {
		if _, err := regexp.Compile(r.Resource); err != nil {
			return invalid("resource %q is not a valid regular expression: %v", r.Resource, err)
		}
		if r.ClusterMode {
			return invalid("a regex resource cannot be a cluster rule")
		}
	}
	if r.ClusterMode {
		c := r.ClusterConfig
		switch {
		case c.FlowID <= 0:
			return invalid("cluster rule needs clusterConfig.flowId > 0")
		case c.ThresholdType != ThresholdAvgLocal && c.ThresholdType != ThresholdGlobal:
			return invalid("clusterConfig.thresholdType %d is not 0 or 1", c.ThresholdType)
		case c.SampleCount <= 0:
			return invalid("clusterConfig.sampleCount must be > 0")
		case c.WindowIntervalMs <= 0 || c.WindowIntervalMs%c.SampleCount != 0:
			return invalid("clusterConfig.windowIntervalMs %d must be > 0 and divisible by sampleCount %d", c.WindowIntervalMs, c.SampleCount)
		}
	}
	return nil
}
