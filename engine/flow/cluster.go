package flow

import (
	"fmt"
	"time"

	"github.com/rulesync/rulesync/engine/internal/kernel"
)

// TokenStatus is a token server's answer to a cluster flow request, with
// Sentinel's numbers.
type TokenStatus int

// Token statuses, with Sentinel's numbers.
const (
	TokenOK              TokenStatus = 0
	TokenBlocked         TokenStatus = 1
	TokenShouldWait      TokenStatus = 2 // pass after waiting WaitMs
	TokenNoRuleExists    TokenStatus = 3
	TokenNoRefRuleExists TokenStatus = 4
	TokenNotAvailable    TokenStatus = 5
	TokenBadRequest      TokenStatus = -4
	TokenTooManyRequest  TokenStatus = -2
	TokenFail            TokenStatus = -1
)

// TokenResult is the answer to one token request.
type TokenResult struct {
	Status TokenStatus
	WaitMs int64 // for TokenShouldWait
}

// TokenService grants tokens for cluster-mode rules: a token client talking to
// a token server, or an embedded server. RequestToken is called on the hot path
// of every call to a resource with a cluster rule, so it must bound its own
// latency; an error counts as a failed request.
type TokenService interface {
	RequestToken(flowID, count int64, prioritized bool) (TokenResult, error)
}

type tokenHolder struct{ ts TokenService }

// SetTokenService makes cluster-mode rules ask ts for tokens; nil removes it.
// Without a token service, cluster rules fall back to a local check when their
// fallbackToLocalWhenFail is set and pass otherwise, as Sentinel does.
func (m *Manager) SetTokenService(ts TokenService) {
	if ts == nil {
		m.tokens.Store(nil)
		return
	}
	m.tokens.Store(&tokenHolder{ts: ts})
}

// checkCluster is Sentinel's passClusterCheck: the token server decides; when
// it cannot (no server, an error, or a status that means "I don't know"), the
// rule falls back to the local check or passes. It returns the block reason,
// or "" to pass, and whether the local check should decide instead.
func (m *Manager) checkCluster(cr *compiledRule, c *kernel.Context) (reason string, local bool) {
	fallback := cr.rule.ClusterConfig.FallbackToLocalWhenFail
	h := m.tokens.Load()
	if h == nil {
		return "", fallback
	}
	res, err := h.ts.RequestToken(cr.rule.ClusterConfig.FlowID, c.Count, c.Prioritized)
	if err != nil {
		return "", fallback
	}
	switch res.Status {
	case TokenOK:
		return "", false
	case TokenShouldWait:
		if res.WaitMs > 0 {
			if err := c.Wait(m.clock, time.Duration(res.WaitMs)*time.Millisecond); err != nil {
				return fmt.Sprintf("cluster flow %d: gave up waiting %d ms: %v", cr.rule.ClusterConfig.FlowID, res.WaitMs, err), false
			}
			c.NowMs = m.clock.NowMs()
		}
		return "", false
	case TokenNoRuleExists, TokenBadRequest, TokenFail, TokenTooManyRequest:
		return "", fallback
	}
	return fmt.Sprintf("cluster flow %d: token server answered %d", cr.rule.ClusterConfig.FlowID, res.Status), false
}
