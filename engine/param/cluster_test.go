package param

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/rulesync/rulesync/engine/base"
)

type fakeParamTokens struct {
	res    base.TokenResult
	err    error
	flows  []int64
	params [][]any
	ctxs   []context.Context
}

func (f *fakeParamTokens) RequestParamToken(ctx context.Context, flowID, count int64, params []any) (base.TokenResult, error) {
	f.flows = append(f.flows, flowID)
	f.params = append(f.params, params)
	f.ctxs = append(f.ctxs, ctx)
	return f.res, f.err
}

func clusterRule(fallback bool) Rule {
	r := qpsRule(0) // a local check blocks every call: the outcome tells who decided
	r.ClusterMode = true
	r.ClusterConfig = DefaultClusterConfig()
	r.ClusterConfig.FlowID = 9
	r.ClusterConfig.FallbackToLocalWhenFail = fallback
	return r
}

func TestClusterTokenResults(t *testing.T) {
	tests := []struct {
		name     string
		status   base.TokenStatus
		err      error
		fallback bool
		wantPass bool
	}{
		{"ok", base.TokenOK, nil, true, true},
		{"blocked", base.TokenBlocked, nil, false, false},
		{"should wait is not honoured: fallback", base.TokenShouldWait, nil, true, false},
		{"should wait, no fallback passes", base.TokenShouldWait, nil, false, true},
		{"not available, fallback", base.TokenNotAvailable, nil, true, false},
		{"no rule, fallback", base.TokenNoRuleExists, nil, true, false},
		{"no rule, no fallback", base.TokenNoRuleExists, nil, false, true},
		{"too many, no fallback", base.TokenTooManyRequest, nil, false, true},
		{"error, fallback", base.TokenOK, errors.New("timeout"), true, false},
		{"error, no fallback", base.TokenOK, errors.New("timeout"), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestManager(t)
			mustLoad(t, m, clusterRule(tc.fallback))
			ts := &fakeParamTokens{res: base.TokenResult{Status: tc.status}, err: tc.err}
			m.SetTokenService(ts)
			be := m.Check(call("u1"))
			if (be == nil) != tc.wantPass {
				t.Fatalf("pass = %v, want %v (%v)", be == nil, tc.wantPass, be)
			}
			if len(ts.flows) != 1 || ts.flows[0] != 9 || !slices.Equal(ts.params[0], []any{"u1"}) {
				t.Fatalf("requests = %v %v, want one for flow 9 with [u1]", ts.flows, ts.params)
			}
			if ts.ctxs[0] == nil {
				t.Fatal("token service got a nil context")
			}
			if be != nil && tc.status == base.TokenBlocked && be.Value != "u1" {
				t.Fatalf("block value = %v", be.Value)
			}
		})
	}
}

func TestClusterParamValues(t *testing.T) {
	m, _ := newTestManager(t)
	mustLoad(t, m, clusterRule(false))
	ts := &fakeParamTokens{res: base.TokenResult{Status: base.TokenOK}}
	m.SetTokenService(ts)
	s := "ref"
	calls := [][]any{
		{RefString(&s)},               // a StringRef goes as its string
		{[]any{1, nil, "a", int8(2)}}, // a slice: every non-nil element in one request
		{[]string{}},                  // an empty slice: no request, falls back (passes here)
		{nil},                         // nil: the rule does not apply
	}
	for _, args := range calls {
		if be := m.Check(call(args...)); be != nil {
			t.Fatalf("%v blocked: %v", args, be)
		}
	}
	want := [][]any{{"ref"}, {1, "a", int8(2)}}
	if len(ts.params) != len(want) {
		t.Fatalf("requests %v, want %v", ts.params, want)
	}
	for i := range want {
		if !slices.Equal(ts.params[i], want[i]) {
			t.Fatalf("request %d = %v, want %v", i, ts.params[i], want[i])
		}
	}
	// Thread-grade cluster rules never ask.
	th := clusterRule(false)
	th.Grade = GradeThread
	th.Count = 1
	mustLoad(t, m, th)
	ts.params = nil
	if m.Check(call("x")) != nil || len(ts.params) != 0 {
		t.Fatalf("thread-grade cluster rule asked the token service: %v", ts.params)
	}
	// Removing the service brings back the fallback (none here: pass).
	mustLoad(t, m, clusterRule(true))
	m.SetTokenService(nil)
	if m.Check(call("x")) == nil {
		t.Fatal("without a token service, a fallback rule at count 0 passed")
	}
}
