package flow

import (
	"context"
	"fmt"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
)

// TokenStatus is a token server's answer to a cluster flow request, with
// Sentinel's numbers.
type TokenStatus = base.TokenStatus

// Token statuses, with Sentinel's numbers.
const (
	TokenOK              = base.TokenOK
	TokenBlocked         = base.TokenBlocked
	TokenShouldWait      = base.TokenShouldWait // pass after waiting WaitMs
	TokenNoRuleExists    = base.TokenNoRuleExists
	TokenNoRefRuleExists = base.TokenNoRefRuleExists
	TokenNotAvailable    = base.TokenNotAvailable
	TokenBadRequest      = base.TokenBadRequest
	TokenTooManyRequest  = base.TokenTooManyRequest
	TokenFail            = base.TokenFail
)

// TokenResult is the answer to one token request.
type TokenResult = base.TokenResult

// TokenService grants tokens for cluster-mode rules: a token client talking to
// a token server, an embedded server, or a token service counting elsewhere
// (Redis). RequestToken is called on the hot path of every call to a resource
// with a cluster rule, so it must bound its own latency; an error counts as a
// failed request. ctx is the context the call was entered with (never nil).
type TokenService interface {
	RequestToken(ctx context.Context, flowID, count int64, prioritized bool) (TokenResult, error)
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
	ctx := c.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	res, err := h.ts.RequestToken(ctx, cr.rule.ClusterConfig.FlowID, c.Count, c.Prioritized)
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
