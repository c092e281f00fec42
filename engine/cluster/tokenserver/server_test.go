package tokenserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/internal/stat"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/property"
)

const start = 1_000_000 // ms, a bucket boundary

func quiet() Option { return WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func clusterFlow(id int64, count float64, threshold int) flow.Rule {
	r := flow.DefaultRule()
	r.Resource = fmt.Sprintf("res-%d", id)
	r.Count = count
	r.ClusterMode = true
	r.ClusterConfig = flow.DefaultClusterConfig()
	r.ClusterConfig.FlowID = id
	r.ClusterConfig.ThresholdType = threshold
	return r
}

func clusterParam(id int64, count float64, items ...param.Item) param.Rule {
	r := param.DefaultRule()
	r.Resource = fmt.Sprintf("param-%d", id)
	r.Count = count
	r.ParamIdx = 0
	r.ClusterMode = true
	r.ClusterConfig = param.DefaultClusterConfig()
	r.ClusterConfig.FlowID = id
	r.ClusterConfig.ThresholdType = flow.ThresholdGlobal
	r.ParamFlowItemList = items
	return r
}

func newServer(t *testing.T, clock stat.Clock, opts ...Option) *Server {
	t.Helper()
	s, err := New(append([]Option{quiet(), WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func loadFlow(t *testing.T, s *Server, ns string, rules ...flow.Rule) {
	t.Helper()
	nr, ok := s.Rules(ns)
	if !ok {
		t.Fatalf("namespace %q not served", ns)
	}
	nr.Flow.Update(rules)
}

func loadParam(t *testing.T, s *Server, ns string, rules ...param.Rule) {
	t.Helper()
	nr, ok := s.Rules(ns)
	if !ok {
		t.Fatalf("namespace %q not served", ns)
	}
	nr.Param.Update(rules)
}

func token(t *testing.T, s *Server, id, count int64, prio bool) base.TokenResult {
	t.Helper()
	r, err := s.RequestToken(context.Background(), id, count, prio)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGlobalThreshold(t *testing.T) {
	clock := stat.NewManualClock(start)
	s := newServer(t, clock)
	loadFlow(t, s, DefaultNamespace, clusterFlow(1, 10, flow.ThresholdGlobal))
	for i := range 10 {
		r := token(t, s, 1, 1, false)
		if r.Status != base.TokenOK || r.Remaining != int64(9-i) {
			t.Fatalf("request %d: %+v, want OK remaining %d", i, r, 9-i)
		}
		clock.Advance(50 * time.Millisecond)
	}
	if r := token(t, s, 1, 1, false); r.Status != base.TokenBlocked {
		t.Fatalf("11th request in the window: %+v", r)
	}
	// The first bucket (two passes, at start and start+50) leaves the
	// window at start+1000.
	clock.Set(start + 1000)
	if r := token(t, s, 1, 1, false); r.Status != base.TokenOK || r.Remaining != 1 {
		t.Fatalf("after the oldest bucket left: %+v", r)
	}
	if r := token(t, s, 1, 2, false); r.Status != base.TokenBlocked {
		t.Fatalf("2 tokens with none left: %+v", r)
	}
}

func TestStatusesForBadRequests(t *testing.T) {
	s := newServer(t, stat.NewManualClock(start))
	loadFlow(t, s, DefaultNamespace, clusterFlow(1, 10, flow.ThresholdGlobal))
	loadParam(t, s, DefaultNamespace, clusterParam(2, 10))
	ctx := context.Background()
	cases := []struct {
		name string
		got  func() base.TokenResult
		want base.TokenStatus
	}{
		{"flow id 0", func() base.TokenResult { return token(t, s, 0, 1, false) }, base.TokenBadRequest},
		{"count 0", func() base.TokenResult { return token(t, s, 1, 0, false) }, base.TokenBadRequest},
		{"unknown flow id", func() base.TokenResult { return token(t, s, 99, 1, false) }, base.TokenNoRuleExists},
		{"param rule id is not a flow id", func() base.TokenResult { return token(t, s, 2, 1, false) }, base.TokenNoRuleExists},
		{"params empty", func() base.TokenResult { r, _ := s.RequestParamToken(ctx, 2, 1, nil); return r }, base.TokenBadRequest},
		{"params unsupported only", func() base.TokenResult { r, _ := s.RequestParamToken(ctx, 2, 1, []any{struct{}{}}); return r }, base.TokenBadRequest},
		{"unknown param id", func() base.TokenResult { r, _ := s.RequestParamToken(ctx, 1, 1, []any{"a"}); return r }, base.TokenNoRuleExists},
	}
	for _, c := range cases {
		if r := c.got(); r.Status != c.want {
			t.Errorf("%s: %v, want %v", c.name, r.Status, c.want)
		}
	}
}

func TestAvgLocalScalesWithClients(t *testing.T) {
	clock := stat.NewManualClock(start)
	s := newServer(t, clock, WithNamespaces(property.New(property.WithInitial([]string{"app"}))))
	loadFlow(t, s, "app", clusterFlow(1, 5, flow.ThresholdAvgLocal))
	if r := token(t, s, 1, 1, false); r.Status != base.TokenBlocked {
		t.Fatalf("no client connected: %+v, want blocked", r)
	}
	s.clients.join("10.0.0.1:1", "", "app")
	s.clients.join("10.0.0.2:1", "", "app")
	s.clients.join("10.0.0.3:1", "", "other") // another namespace does not count
	clock.Advance(time.Second)
	passed := 0
	for range 20 {
		if token(t, s, 1, 1, false).Status == base.TokenOK {
			passed++
		}
	}
	if passed != 10 {
		t.Fatalf("2 clients x count 5: %d passed, want 10", passed)
	}
	s.clients.join("10.0.0.2:1", "app", "other") // a client re-pinging another namespace moves
	clock.Advance(time.Second)
	passed = 0
	for range 20 {
		if token(t, s, 1, 1, false).Status == base.TokenOK {
			passed++
		}
	}
	if passed != 5 {
		t.Fatalf("1 client x count 5: %d passed, want 5", passed)
	}
}

func TestExceedCountAndTooManyRequests(t *testing.T) {
	clock := stat.NewManualClock(start)
	cfg := cluster.DefaultFlowConfig()
	cfg.ExceedCount = 1.5
	cfg.MaxAllowedQps = 12
	fp := property.New(property.WithInitial(cfg))
	s := newServer(t, clock, WithFlowConfig(fp))
	loadFlow(t, s, DefaultNamespace, clusterFlow(1, 10, flow.ThresholdGlobal))
	var got []base.TokenStatus
	for range 16 {
		got = append(got, token(t, s, 1, 1, false).Status)
	}
	want := slices.Repeat([]base.TokenStatus{base.TokenOK}, 15)
	want = append(want, base.TokenBlocked)
	// 12 requests per second reach the check; the 13th on is TOO_MANY_REQUEST.
	for i := 12; i < 16; i++ {
		want[i] = base.TokenTooManyRequest
	}
	if !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if info := s.Info(); info.RequestLimitData[0].CurrentQps != 12 || info.RequestLimitData[0].MaxAllowedQps != 12 {
		t.Fatalf("request limit data %+v", info.RequestLimitData)
	}
}

func TestPrioritizedOccupiesNextBucket(t *testing.T) {
	clock := stat.NewManualClock(start)
	s := newServer(t, clock)
	loadFlow(t, s, DefaultNamespace, clusterFlow(1, 2, flow.ThresholdGlobal)) // 10 buckets of 100 ms
	token(t, s, 1, 2, false)                                                  // fills [start, start+100)
	clock.Set(start + 950)
	if r := token(t, s, 1, 1, false); r.Status != base.TokenBlocked {
		t.Fatalf("not prioritized: %+v", r)
	}
	// The head bucket (start) leaves at start+1000: one token may wait for it.
	r := token(t, s, 1, 1, true)
	if r.Status != base.TokenShouldWait || r.WaitMs != 50 {
		t.Fatalf("prioritized: %+v, want SHOULD_WAIT 50 ms", r)
	}
	r = token(t, s, 1, 1, true)
	if r.Status != base.TokenShouldWait {
		t.Fatalf("second prioritized (room for 2 after the head leaves): %+v", r)
	}
	if r := token(t, s, 1, 1, true); r.Status != base.TokenBlocked {
		t.Fatalf("third prioritized: %+v, want blocked (both tokens promised)", r)
	}
	// In the next bucket the promised tokens count as passed.
	clock.Set(start + 1000)
	if r := token(t, s, 1, 1, false); r.Status != base.TokenBlocked {
		t.Fatalf("after the promised bucket began: %+v, want blocked", r)
	}
	clock.Set(start + 2000)
	if r := token(t, s, 1, 1, false); r.Status != base.TokenOK {
		t.Fatalf("a window later: %+v", r)
	}
}

func TestMaxOccupyRatio(t *testing.T) {
	clock := stat.NewManualClock(start)
	cfg := cluster.DefaultFlowConfig()
	cfg.MaxOccupyRatio = 0.5
	s := newServer(t, clock, WithFlowConfig(property.New(property.WithInitial(cfg))))
	loadFlow(t, s, DefaultNamespace, clusterFlow(1, 4, flow.ThresholdGlobal))
	token(t, s, 1, 4, false)
	clock.Set(start + 950)
	statuses := []base.TokenStatus{}
	for range 4 {
		statuses = append(statuses, token(t, s, 1, 1, true).Status)
	}
	// Waiting tokens may reach 0.5 x 4 = 2 before the check refuses: 3 borrow.
	want := []base.TokenStatus{base.TokenShouldWait, base.TokenShouldWait, base.TokenShouldWait, base.TokenBlocked}
	if !slices.Equal(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
}

func TestOnlyClusterRulesAndValidation(t *testing.T) {
	s := newServer(t, stat.NewManualClock(start))
	local := clusterFlow(1, 10, flow.ThresholdGlobal)
	local.ClusterMode = false
	bad := clusterFlow(2, 10, flow.ThresholdGlobal)
	bad.ClusterConfig.SampleCount = 3 // 1000 % 3 != 0
	good := clusterFlow(3, 10, flow.ThresholdGlobal)
	loadFlow(t, s, DefaultNamespace, local, bad, good)
	if token(t, s, 1, 1, false).Status != base.TokenNoRuleExists || token(t, s, 2, 1, false).Status != base.TokenNoRuleExists {
		t.Fatal("a local or invalid rule is served")
	}
	if token(t, s, 3, 1, false).Status != base.TokenOK {
		t.Fatal("the valid cluster rule is not served")
	}
	st := s.Status()
	if len(st.Namespaces) != 1 || st.Namespaces[0].FlowRules != 1 || len(st.Namespaces[0].Rejected) != 1 ||
		!strings.Contains(st.Namespaces[0].Rejected[0].Reason, "sampleCount") {
		t.Fatalf("status %+v", st)
	}
}

func TestParamRules(t *testing.T) {
	clock := stat.NewManualClock(start)
	s := newServer(t, clock)
	loadParam(t, s, DefaultNamespace, clusterParam(7, 2,
		param.Item{Object: "5", ClassType: "int", Count: 4},
		param.Item{Object: "vip", Count: 0},
	))
	ctx := context.Background()
	req := func(params ...any) base.TokenResult {
		r, err := s.RequestParamToken(ctx, 7, 1, params)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Integer 5 has its item (4); Long 5 is another value with the rule's count (2).
	for i := range 4 {
		if r := req(int32(5)); r.Status != base.TokenOK || r.Remaining != int64(3-i) {
			t.Fatalf("Integer 5, call %d: %+v", i, r)
		}
	}
	if req(int32(5)).Status != base.TokenBlocked {
		t.Fatal("Integer 5 passed its item's count")
	}
	if req(int64(5)).Status != base.TokenOK || req(5).Status != base.TokenOK || req(int64(5)).Status != base.TokenBlocked {
		t.Fatal("Long 5 (and Go int 5) is not its own value with count 2")
	}
	if req("vip").Status != base.TokenBlocked {
		t.Fatal("the item with count 0 passed")
	}
	// Several values: all or nothing, remaining -1.
	if r := req("a", "b"); r.Status != base.TokenOK || r.Remaining != -1 {
		t.Fatalf("two fresh values: %+v", r)
	}
	if r := req("a", "c"); r.Status != base.TokenOK {
		t.Fatalf("a has room for one more: %+v", r)
	}
	if r := req("c", "a"); r.Status != base.TokenBlocked {
		t.Fatalf("a is full: %+v", r)
	}
	if r := req("c"); r.Status != base.TokenOK || r.Remaining != 0 {
		t.Fatalf("a blocked request must count nothing: c %+v", r)
	}
	clock.Advance(time.Second)
	if req(int32(5)).Status != base.TokenOK {
		t.Fatal("a window later Integer 5 is still blocked")
	}
}

func TestNamespacesAndSupplier(t *testing.T) {
	var mu sync.Mutex
	made := map[string]int{}
	closed := map[string]int{}
	props := map[string]*property.Property[[]flow.Rule]{}
	supplier := func(ns string) (NamespaceRules, error) {
		mu.Lock()
		defer mu.Unlock()
		made[ns]++
		p := property.New[[]flow.Rule]()
		props[ns] = p
		return NamespaceRules{Flow: p, Close: func() { mu.Lock(); closed[ns]++; mu.Unlock() }}, nil
	}
	nsProp := property.New(property.WithInitial([]string{"a", " b ", ""}))
	s := newServer(t, stat.NewManualClock(start), WithNamespaces(nsProp), WithRuleSupplier(supplier))
	if info := s.Info(); !slices.Equal(info.NamespaceSet, []string{"a", "b", "default"}) {
		t.Fatalf("namespace set %v", info.NamespaceSet)
	}
	props["a"].Update([]flow.Rule{clusterFlow(1, 1, flow.ThresholdGlobal)})
	props["b"].Update([]flow.Rule{clusterFlow(1, 1, flow.ThresholdGlobal), clusterFlow(2, 1, flow.ThresholdGlobal)})
	st := s.Status()
	if len(st.Conflicts) != 1 || st.Conflicts[0].Namespace != "b" || st.Conflicts[0].HeldBy != "a" || st.Conflicts[0].FlowID != 1 {
		t.Fatalf("conflicts %+v, want flowId 1 of b held by a", st.Conflicts)
	}
	// The holder keeps it even when another namespace sorts first later.
	nsProp.Update([]string{"b", "c"})
	mu.Lock()
	if closed["a"] != 1 || made["c"] != 1 || made["b"] != 1 {
		t.Fatalf("made %v closed %v", made, closed)
	}
	mu.Unlock()
	if st := s.Status(); len(st.Conflicts) != 0 || st.Namespaces[0].Namespace != "b" || st.Namespaces[0].FlowRules != 2 {
		t.Fatalf("after a left, b serves flowId 1: %+v", st)
	}
	props["c"].Update([]flow.Rule{clusterFlow(2, 1, flow.ThresholdGlobal)})
	if st := s.Status(); len(st.Conflicts) != 1 || st.Conflicts[0].Namespace != "c" || st.Conflicts[0].HeldBy != "b" {
		t.Fatalf("c's flowId 2 is held by b: %+v", st.Conflicts)
	}
	// The old property of a is no longer listened to.
	if props["a"].Subscribers() != 0 {
		t.Fatal("dropped namespace still subscribed")
	}
	_ = s.Close()
	mu.Lock()
	defer mu.Unlock()
	if closed["b"] != 1 || closed["c"] != 1 || closed["default"] != 1 {
		t.Fatalf("after Close: closed %v", closed)
	}
}

func TestConfigValidation(t *testing.T) {
	fp := property.New(property.WithInitial(cluster.DefaultFlowConfig()))
	tp := property.New(property.WithInitial(cluster.TransportConfig{Port: 0, IdleSeconds: 30}))
	s := newServer(t, stat.NewManualClock(start), WithFlowConfig(fp), WithTransportConfig(tp))
	bad := []cluster.FlowConfig{
		{ExceedCount: -1, MaxOccupyRatio: 1, IntervalMs: 1000, SampleCount: 10},
		{ExceedCount: 1, MaxOccupyRatio: 1, IntervalMs: 1000, SampleCount: 3},
		{ExceedCount: 1, MaxOccupyRatio: 1, IntervalMs: 1000, SampleCount: 0},
		{ExceedCount: 1, MaxOccupyRatio: -0.5, IntervalMs: 1000, SampleCount: 10},
	}
	for _, c := range bad {
		fp.Update(c)
	}
	tp.Update(cluster.TransportConfig{Port: 70000, IdleSeconds: 30})
	tp.Update(cluster.TransportConfig{Port: 1, IdleSeconds: 0})
	info := s.Info()
	if info.Flow != cluster.DefaultFlowConfig() || info.Transport.IdleSeconds != 30 {
		t.Fatalf("an invalid config was applied: %+v", info)
	}
	st := s.Status()
	if len(st.ConfigErrors) != 6 || !strings.Contains(st.ConfigErrors[1], "divisible") || !strings.Contains(st.ConfigErrors[4], "port 70000") {
		t.Fatalf("config errors %q", st.ConfigErrors)
	}
	good := cluster.DefaultFlowConfig()
	good.MaxAllowedQps = 5
	fp.Update(good)
	if s.Info().Flow.MaxAllowedQps != 5 {
		t.Fatal("a valid config was not applied")
	}
}

func TestCountersSurviveReload(t *testing.T) {
	clock := stat.NewManualClock(start)
	s := newServer(t, clock)
	r := clusterFlow(1, 3, flow.ThresholdGlobal)
	loadFlow(t, s, DefaultNamespace, r)
	token(t, s, 1, 3, false)
	r.Count = 4 // a new threshold keeps what was counted
	loadFlow(t, s, DefaultNamespace, r, clusterFlow(9, 1, flow.ThresholdGlobal))
	if res := token(t, s, 1, 1, false); res.Status != base.TokenOK || res.Remaining != 0 {
		t.Fatalf("after a count change: %+v", res)
	}
	r.ClusterConfig.SampleCount = 5 // a new window starts fresh
	loadFlow(t, s, DefaultNamespace, r)
	if res := token(t, s, 1, 1, false); res.Status != base.TokenOK || res.Remaining != 3 {
		t.Fatalf("after a window change: %+v", res)
	}
}

func TestNamespaceChangesLeakNoGoroutine(t *testing.T) {
	// A supplier that starts a goroutine per namespace, stopped by Close;
	// live counts them, so that the check does not depend on what else the
	// test binary runs at the moment.
	var live atomic.Int64
	supplier := func(string) (NamespaceRules, error) {
		done := make(chan struct{})
		live.Add(1)
		go func() { <-done; live.Add(-1) }()
		return NamespaceRules{Flow: property.New[[]flow.Rule](), Close: func() { close(done) }}, nil
	}
	before := runtime.NumGoroutine()
	nsProp := property.New[[]string]()
	s, err := New(quiet(), WithNamespaces(nsProp), WithRuleSupplier(supplier))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		nsProp.Update([]string{fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i%3)})
	}
	served := int64(len(s.Info().NamespaceSet))
	waitLive(t, &live, served)
	_ = s.Close()
	waitLive(t, &live, 0)
	waitGoroutines(t, before)
}

// waitLive waits until exactly want supplier goroutines run: closing a
// dropped namespace's properties ends its goroutine a moment later.
func waitLive(t *testing.T, live *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for live.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d supplier goroutines run, want %d", live.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitGoroutines waits until no more than n goroutines run (exiting ones take
// a moment to be gone).
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
