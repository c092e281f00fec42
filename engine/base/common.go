package base

import "strings"

// LimitAppDefault is the limitApp that matches every caller.
const LimitAppDefault = "default"

// LimitAppOther matches callers not named by another rule of the same resource.
const LimitAppOther = "other"

// NormalizeLimitApp maps blank to "default", as Sentinel does.
func NormalizeLimitApp(s string) string {
	if strings.TrimSpace(s) == "" {
		return LimitAppDefault
	}
	return s
}

// ControlBehavior is how a QPS limit shapes traffic (flow, param and gateway rules).
type ControlBehavior int

// Control behaviours, with Sentinel's numbers.
const (
	BehaviorReject            ControlBehavior = 0 // reject at once (Sentinel DEFAULT)
	BehaviorWarmUp            ControlBehavior = 1
	BehaviorRateLimiter       ControlBehavior = 2 // queue with even spacing
	BehaviorWarmUpRateLimiter ControlBehavior = 3
)

// String names the behaviour.
func (b ControlBehavior) String() string {
	switch b {
	case BehaviorReject:
		return "reject"
	case BehaviorWarmUp:
		return "warm-up"
	case BehaviorRateLimiter:
		return "rate-limiter"
	case BehaviorWarmUpRateLimiter:
		return "warm-up-rate-limiter"
	}
	return "unknown"
}
