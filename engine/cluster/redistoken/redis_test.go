package redistoken_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster/redistoken"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/param"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/property"
	"github.com/rulesync/rulesync/sources/redis/redistest"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// tokenFlowRule is a cluster flow rule over a 10 s window, so that every
// request of a test falls in one window however slow the machine is. Note
// Sentinel's arithmetic, which the service keeps: the threshold is a rate,
// compared with the window's average (passed / 10 s) plus the request, so a
// count c lets 10 x (c - 1) + 1 tokens through one 10 s window.
// converge bounds how long a test waits for the services to see each other:
// generous, for a loaded machine.
const converge = 20 * time.Second

// failoverDeadline bounds a Sentinel failover.
const failoverDeadline = 30 * time.Second

func tokenFlowRule(id int64, count float64, threshold int) flow.Rule {
	r := flow.DefaultRule()
	r.Resource, r.Count, r.ClusterMode = fmt.Sprintf("res-%d", id), count, true
	r.ClusterConfig = flow.DefaultClusterConfig()
	r.ClusterConfig.FlowID, r.ClusterConfig.ThresholdType = id, threshold
	r.ClusterConfig.WindowIntervalMs, r.ClusterConfig.SampleCount = 10_000, 10
	return r
}

func tokenParamRule(id int64, count float64, items ...param.Item) param.Rule {
	r := param.DefaultRule()
	r.Resource, r.Count, r.ClusterMode = fmt.Sprintf("param-%d", id), count, true
	r.ClusterConfig = param.DefaultClusterConfig()
	r.ClusterConfig.FlowID, r.ClusterConfig.ThresholdType = id, flow.ThresholdGlobal
	r.ClusterConfig.WindowIntervalMs, r.ClusterConfig.SampleCount = 10_000, 10
	r.ParamFlowItemList = items
	return r
}

func newTokenService(t testing.TB, rdb goredis.UniversalClient, opts ...redistoken.Option) *redistoken.Service {
	t.Helper()
	s, err := redistoken.New(rdb, append([]redistoken.Option{redistoken.WithLogger(quietLog), redistoken.WithNamespace("app"),
		redistoken.WithTimeout(time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustToken(t testing.TB, s *redistoken.Service, id, count int64, prio bool) base.TokenResult {
	t.Helper()
	r, err := s.RequestToken(context.Background(), id, count, prio)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// passes is how many of n requests of one token pass.
func passes(t testing.TB, s *redistoken.Service, id int64, n int) int {
	t.Helper()
	ok := 0
	for range n {
		if mustToken(t, s, id, 1, false).Status == base.TokenOK {
			ok++
		}
	}
	return ok
}

// Two instances, each with its own connection, share one GLOBAL window.
func TestRedisTokenGlobalShared(t *testing.T) {
	srv := harness.Redis(t)
	rules := property.New(property.WithInitial([]flow.Rule{tokenFlowRule(1, 2, flow.ThresholdGlobal)}))
	a := newTokenService(t, redistest.Client(t, srv), redistoken.WithFlowRules(rules))
	b := newTokenService(t, redistest.Client(t, srv), redistoken.WithFlowRules(rules))
	var statuses []base.TokenStatus
	for i := range 13 {
		s := a
		if i%2 == 1 {
			s = b
		}
		r := mustToken(t, s, 1, 1, false)
		// remaining = count - passed/10 - 1, truncated: 1, then 0.
		if wantRem := int64(min(i, 1) ^ 1); r.Status == base.TokenOK && r.Remaining != wantRem {
			t.Fatalf("request %d: remaining %d, want %d", i, r.Remaining, wantRem)
		}
		statuses = append(statuses, r.Status)
	}
	want := append(slices.Repeat([]base.TokenStatus{base.TokenOK}, 11), base.TokenBlocked, base.TokenBlocked)
	if !slices.Equal(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
	if r := mustToken(t, a, 2, 1, false); r.Status != base.TokenNoRuleExists {
		t.Fatalf("unknown flow id: %v", r.Status)
	}
	if r := mustToken(t, a, 1, 0, false); r.Status != base.TokenBadRequest {
		t.Fatalf("count 0: %v", r.Status)
	}
}

// AVG_LOCAL: count x the live instances of the namespace.
func TestRedisTokenAvgLocal(t *testing.T) {
	srv := harness.Redis(t)
	rules := property.New(property.WithInitial([]flow.Rule{tokenFlowRule(1, 2, flow.ThresholdAvgLocal)}))
	var svcs []*redistoken.Service
	for range 3 {
		svcs = append(svcs, newTokenService(t, redistest.Client(t, srv), redistoken.WithFlowRules(rules), redistoken.WithHeartbeat(50*time.Millisecond)))
	}
	deadline := time.Now().Add(converge)
	for svcs[0].Members() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("members %d, want 3", svcs[0].Members())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A threshold of 3 x 2 = 6 lets 10 x 5 + 1 through the window.
	if got := passes(t, svcs[0], 1, 60); got != 51 {
		t.Fatalf("3 instances x count 2: %d passed, want 51", got)
	}
	// An instance that leaves no longer counts.
	svcs[2].Close()
	for svcs[0].Members() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("members %d after one left, want 2", svcs[0].Members())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisTokenParamTypedValues(t *testing.T) {
	srv := harness.Redis(t)
	rules := property.New(property.WithInitial([]param.Rule{tokenParamRule(7, 2, param.Item{Object: "5", ClassType: "int", Count: 3})}))
	s := newTokenService(t, redistest.Client(t, srv), redistoken.WithParamRules(rules))
	ctx := context.Background()
	st := func(params ...any) base.TokenResult {
		r, err := s.RequestParamToken(ctx, 7, 1, params)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	n := func(count int, params ...any) int {
		ok := 0
		for range count {
			if st(params...).Status == base.TokenOK {
				ok++
			}
		}
		return ok
	}
	// Integer 5 has its item (count 3: 21 per window), Long 5 the rule's
	// count 2 (11 per window); Go's int 5 is a Long.
	if r := st(int32(5)); r.Status != base.TokenOK || r.Remaining != 2 {
		t.Fatalf("Integer 5: %+v", r)
	}
	if got := n(30, int32(5)); got != 20 {
		t.Fatalf("Integer 5: %d more passed, want 20", got)
	}
	if got := n(5, int64(5)) + n(10, 5); got != 11 {
		t.Fatalf("Long 5: %d passed, want 11", got)
	}
	// Several values: all or nothing, remaining -1.
	if r := st("a", "b"); r.Status != base.TokenOK || r.Remaining != -1 {
		t.Fatalf("two values: %+v", r)
	}
	if got := n(20, "a"); got != 10 {
		t.Fatalf("a: %d more passed, want 10", got)
	}
	if st("b", "a").Status != base.TokenBlocked || n(20, "b") != 10 {
		t.Fatal("a blocked multi-value request counted something")
	}
}

func TestRedisTokenPrioritized(t *testing.T) {
	srv := harness.Redis(t)
	r := tokenFlowRule(1, 2, flow.ThresholdGlobal)
	r.ClusterConfig.WindowIntervalMs, r.ClusterConfig.SampleCount = 1000, 10
	s := newTokenService(t, redistest.Client(t, srv), redistoken.WithFlowRules(property.New(property.WithInitial([]flow.Rule{r}))))
	// Wait for a point where the window's head bucket will drop soon: fill
	// two tokens, then wait into the last bucket of the window.
	mustToken(t, s, 1, 2, false)
	// Once the window is full, a prioritized request either waits for the
	// next bucket or, if no bucket frees room in time, is blocked; a plain
	// one is blocked. Within the window a second later, the promised token
	// counts as passed.
	if got := mustToken(t, s, 1, 1, false).Status; got != base.TokenBlocked {
		t.Fatalf("plain request over the limit: %v", got)
	}
	deadline := time.Now().Add(converge)
	for {
		res := mustToken(t, s, 1, 1, true)
		if res.Status == base.TokenShouldWait {
			if res.WaitMs <= 0 || res.WaitMs > 100 {
				t.Fatalf("wait %d ms, want within one bucket (100 ms)", res.WaitMs)
			}
			break
		}
		if res.Status == base.TokenOK {
			mustToken(t, s, 1, 2, false) // the window moved on: fill it again
		}
		if time.Now().After(deadline) {
			t.Fatal("no prioritized request was ever asked to wait")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Redis killed or frozen: every request returns within its timeout (plus a
// scheduling margin) with an error, so that the engine falls back; once Redis
// is back, requests are served again without help.
func TestRedisTokenRedisDown(t *testing.T) {
	srv := harness.Redis(t)
	const timeout = 20 * time.Millisecond
	const margin = 150 * time.Millisecond // scheduling on a loaded machine under -race
	rules := []flow.Rule{tokenFlowRule(1, 1e9, flow.ThresholdGlobal)}
	rdb := goredis.NewClient(redistest.Options(srv))
	t.Cleanup(func() { rdb.Close() })
	s := newTokenService(t, rdb, redistoken.WithTimeout(timeout), redistoken.WithFlowRules(property.New(property.WithInitial(rules))))
	e := engine.New(engine.WithLogger(quietLog))
	defer e.Close()
	e.Flow().SetTokenService(s)
	local := rules[0]
	local.Count = 0 // the local fallback blocks everything
	e.Flow().Load([]flow.Rule{local})
	enter := func() (time.Duration, error) {
		t0 := time.Now()
		en, err := e.Entry(context.Background(), local.Resource)
		if err == nil {
			en.Exit()
		}
		return time.Since(t0), err
	}
	if _, err := enter(); err != nil {
		t.Fatalf("Redis up: %v", err)
	}
	for _, fault := range []struct {
		name     string
		down, up func() error
	}{
		{"killed", srv.Kill, srv.Restart},
		{"frozen", srv.Pause, srv.Resume},
	} {
		if err := fault.down(); err != nil {
			t.Fatal(err)
		}
		late, passed := 0, 0
		for range 50 {
			d, err := enter()
			if d > timeout+margin {
				late++
			}
			if err == nil {
				passed++
			}
		}
		if late != 0 || passed != 0 {
			t.Fatalf("Redis %s: %d of 50 calls over %v + %v, %d passed (want the local fallback to block all)", fault.name, late, timeout, margin, passed)
		}
		if err := fault.up(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(converge)
		for {
			if _, err := enter(); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after Redis was %s and came back, calls still fall back", fault.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// On Redis Cluster all keys of one rule share a slot, so a multi-value
// param request is one script.
func TestRedisTokenCluster(t *testing.T) {
	c := harness.RedisCluster(t)
	rdb := redistest.ClusterClient(t, c)
	flows := property.New(property.WithInitial([]flow.Rule{tokenFlowRule(1, 2, flow.ThresholdGlobal), tokenFlowRule(2, 2, flow.ThresholdGlobal)}))
	params := property.New(property.WithInitial([]param.Rule{tokenParamRule(3, 1)}))
	s := newTokenService(t, rdb, redistoken.WithFlowRules(flows), redistoken.WithParamRules(params))
	for _, id := range []int64{1, 2} {
		if got := passes(t, s, id, 15); got != 11 {
			t.Fatalf("flow %d: %d passed, want 11", id, got)
		}
	}
	ctx := opCtx(t)
	values := []any{"a", int32(1), int64(1), true, 2.5, float32(2.5), int8(1), int16(1)}
	if r, err := s.RequestParamToken(ctx, 3, 1, values); err != nil || r.Status != base.TokenOK {
		t.Fatalf("eight values of eight types on one slot: %+v, %v", r, err)
	}
	if r, err := s.RequestParamToken(ctx, 3, 1, []any{"b", int64(1)}); err != nil || r.Status != base.TokenBlocked {
		t.Fatalf("Long 1 again: %+v, %v", r, err)
	}
	// The keys written for rule 3 all hash to one slot.
	var mu sync.Mutex
	var keys []string
	iter := rdb.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
		ks, err := n.Keys(ctx, "rulesync:cluster:{app:3}:*").Result()
		mu.Lock()
		keys = append(keys, ks...)
		mu.Unlock()
		return err
	})
	if iter != nil || len(keys) != len(values) {
		t.Fatalf("keys of rule 3: %v, %v", keys, iter)
	}
	slot, err := rdb.ClusterKeySlot(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys[1:] {
		if s2, _ := rdb.ClusterKeySlot(ctx, k).Result(); s2 != slot {
			t.Fatalf("key %s in slot %d, %s in %d", keys[0], slot, k, s2)
		}
	}
}

// A Sentinel failover: the master dies and its replica is promoted. While
// there is no master, requests fail within their timeout; afterwards the
// failover client finds the new master and requests are served again.
func TestRedisTokenSentinelFailover(t *testing.T) {
	s := harness.RedisSentinel(t, harness.WithReplica())
	const timeout = 50 * time.Millisecond
	const margin = 150 * time.Millisecond
	rdb := redistest.FailoverClient(t, s)
	svc := newTokenService(t, rdb, redistoken.WithTimeout(timeout),
		redistoken.WithFlowRules(property.New(property.WithInitial([]flow.Rule{tokenFlowRule(1, 1e9, flow.ThresholdGlobal)}))))
	if r := mustToken(t, svc, 1, 1, false); r.Status != base.TokenOK {
		t.Fatalf("before the failover: %v", r.Status)
	}
	var late, calls, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			_, err := svc.RequestToken(context.Background(), 1, 1, false)
			if time.Since(t0) > timeout+margin {
				late.Add(1)
			}
			calls.Add(1)
			if err != nil {
				failed.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if err := s.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), failoverDeadline)
	defer cancel()
	if err := s.WaitMaster(ctx, s.Replica); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(converge)
	for {
		if r, err := svc.RequestToken(context.Background(), 1, 1, false); err == nil && r.Status == base.TokenOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("requests not served after the failover")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d calls during the failover, %d failed, %d over %v + %v", calls.Load(), failed.Load(), late.Load(), timeout, margin)
	if late.Load() != 0 {
		t.Fatalf("%d calls waited longer than the timeout plus margin", late.Load())
	}
	if failed.Load() == 0 {
		t.Fatal("no call failed while there was no master: the fault did not happen")
	}
}

// BenchmarkRedisTokenRoundTrip is one flow token checked and counted in a
// local Redis, with p50 and p99.
func BenchmarkRedisTokenRoundTrip(b *testing.B) {
	srv := harness.Redis(b)
	s := newTokenService(b, redistest.Client(b, srv), redistoken.WithFlowRules(property.New(property.WithInitial([]flow.Rule{tokenFlowRule(1, 1e12, flow.ThresholdGlobal)}))))
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		r, err := s.RequestToken(ctx, 1, 1, false)
		if err != nil || r.Status != base.TokenOK {
			b.Fatal(r, err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	}
}

// opCtx bounds one Redis operation of a test.
func opCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
