package flow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

type fakeTokens struct {
	res   flow.TokenResult
	err   error
	calls []int64 // flow ids asked for
}

func (f *fakeTokens) RequestToken(_ context.Context, flowID, count int64, prioritized bool) (flow.TokenResult, error) {
	f.calls = append(f.calls, flowID)
	return f.res, f.err
}

func TestClusterTokenResults(t *testing.T) {
	// The local limit (count 0) blocks whenever the rule falls back to it, so
	// the outcome tells which path decided.
	tests := []struct {
		name     string
		status   flow.TokenStatus
		err      error
		fallback bool
		wantPass bool
	}{
		{"ok", flow.TokenOK, nil, true, true},
		{"blocked", flow.TokenBlocked, nil, true, false},
		{"not available blocks", flow.TokenNotAvailable, nil, false, false},
		{"no rule, fallback to local", flow.TokenNoRuleExists, nil, true, false},
		{"no rule, no fallback passes", flow.TokenNoRuleExists, nil, false, true},
		{"fail, fallback to local", flow.TokenFail, nil, true, false},
		{"too many requests, no fallback", flow.TokenTooManyRequest, nil, false, true},
		{"bad request, fallback", flow.TokenBadRequest, nil, true, false},
		{"error, fallback", flow.TokenOK, errors.New("timeout"), true, false},
		{"error, no fallback", flow.TokenOK, errors.New("timeout"), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := qps("res", 0)
			r.ClusterMode = true
			r.ClusterConfig = flow.DefaultClusterConfig()
			r.ClusterConfig.FlowID = 42
			r.ClusterConfig.FallbackToLocalWhenFail = tc.fallback
			h := newHarness(t, stat.NewManualClock(start), r)
			ts := &fakeTokens{res: flow.TokenResult{Status: tc.status}, err: tc.err}
			h.m.SetTokenService(ts)
			if got := h.pass("res", call{}); got != tc.wantPass {
				t.Fatalf("pass = %v, want %v", got, tc.wantPass)
			}
			if len(ts.calls) != 1 || ts.calls[0] != 42 {
				t.Fatalf("token requests = %v, want one for flow 42", ts.calls)
			}
		})
	}
}

func TestClusterShouldWait(t *testing.T) {
	clock := stat.NewManualClock(start)
	r := qps("res", 0)
	r.ClusterMode = true
	r.ClusterConfig = flow.DefaultClusterConfig()
	r.ClusterConfig.FlowID = 1
	h := newHarness(t, clock, r)
	h.m.SetTokenService(&fakeTokens{res: flow.TokenResult{Status: flow.TokenShouldWait, WaitMs: 30}})
	c, be := h.enter("res", call{})
	if be != nil {
		t.Fatal(be)
	}
	if c.NowMs != start+30 || clock.NowMs() != start+30 {
		t.Fatalf("call passed at %d (clock %d), want after waiting 30 ms", c.NowMs, clock.NowMs())
	}
	// Removing the service brings back the fallback: local count 0 blocks.
	h.m.SetTokenService(nil)
	clock.Advance(time.Second)
	if h.pass("res", call{}) {
		t.Fatal("passed without a token service and with local fallback at count 0")
	}
}
