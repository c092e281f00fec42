package system

import "github.com/rulesync/rulesync/engine/base"

// Rule is a Sentinel system rule. Every threshold is optional: a negative value
// means "not set". Several rules merge, the smallest value of each field winning.
type Rule struct {
	ID                int64   `json:"id,omitempty"`
	Resource          string  `json:"resource,omitempty"` // ignored, as in Sentinel
	LimitApp          string  `json:"limitApp,omitempty"` // ignored, as in Sentinel
	HighestSystemLoad float64 `json:"highestSystemLoad"`
	HighestCPUUsage   float64 `json:"highestCpuUsage"` // 0..1
	QPS               float64 `json:"qps"`
	AvgRT             int64   `json:"avgRt"`
	MaxThread         int64   `json:"maxThread"`
}

// DefaultRule returns a rule with nothing set (every threshold -1).
func DefaultRule() Rule {
	return Rule{HighestSystemLoad: -1, HighestCPUUsage: -1, QPS: -1, AvgRT: -1, MaxThread: -1}
}

// Key returns r without the fields that do not matter.
func (r Rule) Key() Rule {
	r.ID, r.Resource, r.LimitApp = 0, "", ""
	return r
}

// Equal reports whether r and o set the same thresholds.
func (r Rule) Equal(o Rule) bool { return r.Key() == o.Key() }

// Validate never rejects: Sentinel ignores negative values and a CPU usage above 1.
func (r Rule) Validate() error { return nil }

var _ base.Validator = Rule{}
