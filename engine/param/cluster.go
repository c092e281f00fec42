package param

import (
	"context"
	"fmt"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/internal/kernel"
)

type tokenHolder struct{ ts base.ParamTokenService }

// SetTokenService makes QPS-grade cluster-mode rules ask ts for tokens; nil
// removes it. Without a token service, such rules are checked locally when
// their clusterConfig.fallbackToLocalWhenFail is set and let every call pass
// otherwise, as Sentinel does when no token server answers.
func (m *Manager) SetTokenService(ts base.ParamTokenService) {
	if ts == nil {
		m.tokens.Store(nil)
		return
	}
	m.tokens.Store(&tokenHolder{ts: ts})
}

// checkCluster is Sentinel's ParamFlowChecker.passClusterCheck: the values of
// the rule's argument (one value, or every element of a slice) go to the token
// service in one request. OK passes, BLOCKED blocks, and every other answer,
// an error included, falls back to the local check when the rule says so and
// passes otherwise (local reports which). Unlike flow rules, SHOULD_WAIT is not
// honoured: Sentinel's param checker treats it as "cannot decide" too.
func (m *Manager) checkCluster(c *kernel.Context, r *compiled, ts base.ParamTokenService, acquire int64) (be *base.BlockError, local bool) {
	fallback := r.rule.ClusterConfig.FallbackToLocalWhenFail
	arg, _, kind := resolveArg(argAt(c.Args, r.idx))
	var params []any
	switch kind {
	case argSkip:
		return nil, false // a missing or nil argument: the rule does not apply
	case argScalar:
		params = []any{clusterValue(arg)}
	case argCollection:
		eachElement(arg, func(elem any, _ key) bool {
			params = append(params, clusterValue(elem))
			return true
		})
	}
	if len(params) == 0 {
		// Sentinel's client refuses an empty list as a bad request.
		return nil, fallback
	}
	ctx := c.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	flowID := r.rule.ClusterConfig.FlowID
	res, err := ts.RequestParamToken(ctx, flowID, acquire, params)
	if err != nil {
		return nil, fallback
	}
	switch res.Status {
	case base.TokenOK:
		return nil, false
	case base.TokenBlocked:
		v := arg
		if len(params) == 1 {
			v = params[0]
		}
		return &base.BlockError{
			Family:   m.opts.family,
			Resource: c.Resource,
			Rule:     r.rule,
			Reason:   fmt.Sprintf("cluster param flow %d: blocked by the token service", flowID),
			Value:    v,
		}, false
	}
	return nil, fallback
}

// clusterValue is what a value is sent as: a StringRef is sent as its string,
// which the request may outlive.
func clusterValue(v any) any {
	if ref, ok := v.(StringRef); ok {
		return ref.String()
	}
	return v
}
