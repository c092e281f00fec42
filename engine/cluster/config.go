package cluster

import (
	"errors"
	"fmt"
	"math"

	"github.com/rulesync/rulesync/engine/cluster/wire"
)

// DefaultNamespace is the namespace a token server always serves.
const DefaultNamespace = "default"

// ErrInvalidConfig is wrapped by every error about a server configuration.
var ErrInvalidConfig = errors.New("cluster: invalid config")

// FlowConfig is the server's flow settings (Sentinel's ServerFlowConfig).
type FlowConfig struct {
	// ExceedCount scales every threshold: 1.2 lets 20% more through.
	ExceedCount float64 `json:"exceedCount"`
	// MaxOccupyRatio bounds what prioritized requests may borrow from the
	// next window, as a share of the threshold.
	MaxOccupyRatio float64 `json:"maxOccupyRatio"`
	// IntervalMs and SampleCount shape the window of each namespace's
	// request counter (MaxAllowedQps). A rule's own counters use the window
	// of its clusterConfig (sampleCount, windowIntervalMs).
	IntervalMs  int `json:"intervalMs"`
	SampleCount int `json:"sampleCount"`
	// MaxAllowedQps bounds the requests per second the server answers per
	// namespace; more get TOO_MANY_REQUEST.
	MaxAllowedQps float64 `json:"maxAllowedQps"`
}

// DefaultFlowConfig returns Sentinel's defaults: exceedCount 1, maxOccupyRatio
// 1, a window of 10 buckets over 1000 ms, 30,000 requests per second.
func DefaultFlowConfig() FlowConfig {
	return FlowConfig{ExceedCount: 1, MaxOccupyRatio: 1, IntervalMs: 1000, SampleCount: 10, MaxAllowedQps: 30000}
}

// Validate reports the first invalid field of c.
func (c FlowConfig) Validate() error {
	switch {
	case math.IsNaN(c.ExceedCount) || math.IsInf(c.ExceedCount, 0) || c.ExceedCount < 0:
		return fmt.Errorf("%w: flow exceedCount %v must be a finite number >= 0", ErrInvalidConfig, c.ExceedCount)
	case math.IsNaN(c.MaxOccupyRatio) || math.IsInf(c.MaxOccupyRatio, 0) || c.MaxOccupyRatio < 0:
		return fmt.Errorf("%w: flow maxOccupyRatio %v must be a finite number >= 0", ErrInvalidConfig, c.MaxOccupyRatio)
	case math.IsNaN(c.MaxAllowedQps) || c.MaxAllowedQps < 0:
		return fmt.Errorf("%w: flow maxAllowedQps %v must be >= 0", ErrInvalidConfig, c.MaxAllowedQps)
	case c.SampleCount <= 0:
		return fmt.Errorf("%w: flow sampleCount %d must be > 0", ErrInvalidConfig, c.SampleCount)
	case c.IntervalMs <= 0 || c.IntervalMs%c.SampleCount != 0:
		return fmt.Errorf("%w: flow intervalMs %d must be > 0 and divisible by sampleCount %d", ErrInvalidConfig, c.IntervalMs, c.SampleCount)
	}
	return nil
}

// TransportConfig is the server's transport settings (Sentinel's
// ServerTransportConfig).
type TransportConfig struct {
	// Port is the TCP port the server listens on; 0 picks a free port
	// (Server.Addr tells which), which Java does not allow.
	Port int `json:"port"`
	// IdleSeconds is how long a connection may stay silent before the
	// server closes it.
	IdleSeconds int `json:"idleSeconds"`
}

// DefaultTransportConfig returns Sentinel's defaults: port 18730, idle
// connections closed after 600 s.
func DefaultTransportConfig() TransportConfig {
	return TransportConfig{Port: wire.DefaultPort, IdleSeconds: 600}
}

// Validate reports the first invalid field of c.
func (c TransportConfig) Validate() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("%w: transport port %d is not 0..65535", ErrInvalidConfig, c.Port)
	case c.IdleSeconds <= 0:
		return fmt.Errorf("%w: transport idleSeconds %d must be > 0", ErrInvalidConfig, c.IdleSeconds)
	}
	return nil
}
