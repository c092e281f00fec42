package suites

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/rulesync/rulesync/dashboard"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/consul"
	"github.com/rulesync/rulesync/sources/consul/consultest"
	"github.com/rulesync/rulesync/sources/etcd"
	"github.com/rulesync/rulesync/sources/etcd/etcdtest"
	"github.com/rulesync/rulesync/sources/file"
	"github.com/rulesync/rulesync/sources/nacos"
	"github.com/rulesync/rulesync/sources/nacos/nacostest"
	"github.com/rulesync/rulesync/sources/redis"
	"github.com/rulesync/rulesync/sources/redis/redistest"
)

// dashboardBackends are the config centers the dashboard write-back suite
// runs against. Each returns, per instance of the application, a factory
// with a connection of that instance's own.
var dashboardBackends = []struct {
	name string
	new  func(t testing.TB) func(t testing.TB) ruleapply.SourceFactory
	// raceSkip, when set, is why the suite skips the backend under -race;
	// benchSkip, why BenchmarkDashboardSetRules leaves it out.
	raceSkip, benchSkip string
}{
	{name: "etcd", new: func(t testing.TB) func(t testing.TB) ruleapply.SourceFactory {
		srv := harness.Etcd(t)
		return func(t testing.TB) ruleapply.SourceFactory {
			c, err := clientv3.New(etcdtest.Config(srv))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return func(_ context.Context, id string) (datasource.Source, error) {
				return etcd.New(c, "/sentinel/"+id)
			}
		}
	}},
	{name: "redis", new: func(t testing.TB) func(t testing.TB) ruleapply.SourceFactory {
		srv := harness.Redis(t)
		return func(t testing.TB) ruleapply.SourceFactory {
			c := redistest.Client(t, srv)
			return func(_ context.Context, id string) (datasource.Source, error) {
				return redis.New(c, "sentinel:"+id, "sentinel:"+id+":channel")
			}
		}
	}},
	{name: "consul", new: func(t testing.TB) func(t testing.TB) ruleapply.SourceFactory {
		srv := harness.Consul(t)
		return func(t testing.TB) ruleapply.SourceFactory {
			c := consultest.Client(t, srv)
			return func(_ context.Context, id string) (datasource.Source, error) {
				return consul.New(c, "sentinel/"+id)
			}
		}
	}},
	{name: "nacos", new: func(t testing.TB) func(t testing.TB) ruleapply.SourceFactory {
		srv := nacostest.NewServer(t)
		return func(t testing.TB) ruleapply.SourceFactory {
			return func(ctx context.Context, id string) (datasource.Source, error) {
				s, err := nacos.Dial(ctx, srv.Config(), nacosGroup, id)
				if err == nil {
					t.Cleanup(func() { s.Close() })
				}
				return s, err
			}
		}
	}, raceSkip: "nacos-sdk-go v2.3.5's Shutdown deletes a client from a process-wide map that the other clients read (sources/nacos doc): closing ten clients while the rest work trips -race; make test-norace runs it", benchSkip: "nacos-sdk-go reads at most 5 times a second per process, so 200 changes would measure its limiter; BenchmarkPropagation paces Nacos's changes and says where the time goes"},
	{name: "file", new: func(t testing.TB) func(t testing.TB) ruleapply.SourceFactory {
		dir := t.TempDir()
		return func(testing.TB) ruleapply.SourceFactory {
			return func(_ context.Context, id string) (datasource.Source, error) {
				return file.New(filepath.Join(dir, id+".json"))
			}
		}
	}},
}

// instance is one replica of the application: an engine bound to the
// config center, and its dashboard agent.
type instance struct {
	e     *engine.Engine
	app   *ruleapply.App
	agent *dashboard.Agent
	addr  string
}

func newInstance(t testing.TB, factory ruleapply.SourceFactory, opts ...dashboard.Option) *instance {
	t.Helper()
	e := engine.New()
	t.Cleanup(func() { e.Close() })
	log := testLogger(t) // before the cleanups of what logs through it
	app, err := ruleapply.BindApp(context.Background(), e, "shop", factory, ruleapply.WithAppLogger(log),
		ruleapply.WithDataSourceOptions(datasource.WithLogger(log)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	opts = append([]dashboard.Option{dashboard.WithListenAddr("127.0.0.1:0"), dashboard.WithRules(app), dashboard.WithLogger(log)}, opts...)
	a, err := dashboard.New(e, "shop", opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &instance{e: e, app: app, agent: a, addr: a.Addr().String()}
}

// blocks reports whether instance enforces a zero-count rule on res.
func (in *instance) blocks(res string) bool {
	en, err := in.e.Entry(context.Background(), res)
	if err != nil {
		return true
	}
	en.Exit()
	return false
}

// dashboardClient sends commands as the Sentinel dashboard does (form POSTs,
// Connection: close), from a chosen local address.
type dashboardClient struct {
	http *http.Client
}

func newDashboardClient(localIP string) *dashboardClient {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}, Timeout: 3 * time.Second}
	return &dashboardClient{http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}}
}

func (c *dashboardClient) do(t testing.TB, addr, cmd string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.http.Post("http://"+addr+"/"+cmd, "application/x-www-form-urlencoded; charset=UTF-8", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func flowJSON(res string, count int) string {
	return fmt.Sprintf(`{"clusterMode":false,"controlBehavior":0,"count":%d.0,"grade":1,"limitApp":"default","maxQueueingTimeMs":500,"resource":%q,"strategy":0,"warmUpPeriodSec":10}`, count, res)
}

func waitTrue(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(converge)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", converge, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A change made through instance A's command server is written to the
// config center and enforced by instance B; a conflicting write is
// reported, not lost; a restarted dashboard's small ids take over nothing.
func TestDashboardWriteBack(t *testing.T) {
	for _, be := range dashboardBackends {
		t.Run(be.name, func(t *testing.T) {
			if be.raceSkip != "" && raceEnabled {
				t.Skip(be.raceSkip)
			}
			newFactory := be.new(t)
			a := newInstance(t, newFactory(t))
			b := newInstance(t, newFactory(t))
			dash := newDashboardClient("127.0.0.1")

			// The dashboard reads, then adds a rule on A; B enforces it.
			if st, body := dash.do(t, a.addr, "getRules", url.Values{"type": {"flow"}}); st != 200 || body != "[]" {
				t.Fatalf("getRules: %d %q", st, body)
			}
			st, body := dash.do(t, a.addr, "setRules", url.Values{"type": {"flow"}, "data": {"[" + flowJSON("pay+now", 0) + "]"}})
			if st != 200 || body != "success" {
				t.Fatalf("setRules: %d %q", st, body)
			}
			waitTrue(t, "instance B to enforce the rule set on A", func() bool { return b.blocks("pay+now") })
			if !a.blocks("pay+now") {
				t.Fatal("instance A does not enforce its own change")
			}
			idOnA := a.e.Flow().Rules()[0].ID
			waitTrue(t, "B to hold the same id", func() bool { r := b.e.Flow().Rules(); return len(r) == 1 && r[0].ID == idOnA })

			// Another writer (B's own datasource: a CLI, a second dashboard
			// through B) changes the rules; the dashboard's list on A is now
			// stale: refused, and the other change stays.
			bind, _ := b.app.Binding(engine.FamilyFlow)
			cur, tok := bind.Current()
			other := flow.DefaultRule()
			other.Resource, other.Count = "other", 0
			if _, err := bind.WriteIf(context.Background(), append(cur.([]flow.Rule), other), tok); err != nil {
				t.Fatal(err)
			}
			st, body = dash.do(t, a.addr, "setRules", url.Values{"type": {"flow"}, "data": {"[" + flowJSON("pay+now", 5) + "]"}})
			if st != http.StatusConflict {
				t.Fatalf("stale list: %d %q", st, body)
			}
			waitTrue(t, "A to see the other writer's rule", func() bool { return a.blocks("other") })
			if !a.blocks("pay+now") || !b.blocks("other") {
				t.Fatal("a refused change altered the rules")
			}

			// Two dashboards read the same rules and change them at once:
			// one is stored, the other is told so; neither is lost silently.
			dash2 := newDashboardClient("127.0.0.2")
			for _, d := range []*dashboardClient{dash, dash2} {
				if st, _ := d.do(t, a.addr, "getRules", url.Values{"type": {"flow"}}); st != 200 {
					t.Fatal(st)
				}
			}
			var wg sync.WaitGroup
			codes := make([]int, 2)
			for i, d := range []*dashboardClient{dash, dash2} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i], _ = d.do(t, a.addr, "setRules", url.Values{"type": {"flow"}, "data": {"[" + flowJSON("pay+now", 0) + "," + flowJSON("other", 0) + "," + flowJSON(fmt.Sprintf("dash-%d", i), 0) + "]"}})
				}()
			}
			wg.Wait()
			if codes[0]+codes[1] != 200+http.StatusConflict {
				t.Fatalf("concurrent changes answered %v, want one 200 and one 409", codes)
			}
			winner := 0
			if codes[1] == 200 {
				winner = 1
			}
			waitTrue(t, "B to enforce the winning change", func() bool { return b.blocks(fmt.Sprintf("dash-%d", winner)) })
			if b.blocks(fmt.Sprintf("dash-%d", 1-winner)) {
				t.Fatal("the refused change was applied")
			}

			// A dashboard restart: its list numbers a new rule 1 although
			// rules 1 and 2 exist in the config center (written by hand).
			waitTrue(t, "B to see the winning change", func() bool { return b.blocks(fmt.Sprintf("dash-%d", winner)) })
			_, tok = bind.Current()
			x, y := flow.DefaultRule(), flow.DefaultRule()
			x.ID, x.Resource, x.Count = 1, "x", 0
			y.ID, y.Resource, y.Count = 2, "y", 0
			if _, err := bind.WriteIf(context.Background(), []flow.Rule{x, y}, tok); err != nil {
				t.Fatal(err)
			}
			waitTrue(t, "A to hold rules 1 and 2", func() bool { r := a.e.Flow().Rules(); return len(r) == 2 && minID(r) == 1 })
			dash.do(t, a.addr, "getRules", url.Values{"type": {"flow"}})
			// Flow rules come from the dashboard without ids, but a client
			// may send its own: a colliding 1 gets a fresh id.
			list := "[" + flowJSON("x", 0) + "," + flowJSON("y", 0) + `,{"id":1,"resource":"restarted","count":0,"grade":1,"limitApp":"default"}]`
			if st, body := dash.do(t, a.addr, "setRules", url.Values{"type": {"flow"}, "data": {list}}); st != 200 {
				t.Fatalf("after restart: %d %q", st, body)
			}
			waitTrue(t, "B to enforce the restarted dashboard's rule", func() bool { return b.blocks("restarted") })
			ids := map[int64]string{}
			for _, r := range b.e.Flow().Rules() {
				if prev, dup := ids[r.ID]; dup {
					t.Fatalf("id %d held by %q and %q", r.ID, prev, r.Resource)
				}
				ids[r.ID] = r.Resource
			}
			if ids[1] != "x" || ids[2] != "y" || len(ids) != 3 {
				t.Fatalf("rule 1 was taken over: %v", ids)
			}
			// And a list holding only the new rule (a dashboard that did not
			// read again) would delete the others everywhere: refused.
			if st, body := dash.do(t, a.addr, "setRules", url.Values{"type": {"flow"}, "data": {`[{"id":1,"resource":"alone","count":0,"grade":1}]`}}); st != http.StatusConflict {
				t.Fatalf("forgetful list: %d %q", st, body)
			}
		})
	}
}

func minID(rs []flow.Rule) int64 {
	m := int64(-1)
	for _, r := range rs {
		if m < 0 || r.ID < m {
			m = r.ID
		}
	}
	return m
}

// BenchmarkDashboardSetRules measures a dashboard change end to end: the
// setRules command on instance A (decode, compare-and-set write to the
// config center, apply) answered (set-p50/p99-ms), and the rule enforced by
// instance B through its own watch (p50/p99-ms).
//
// Run with -benchtime 200x for 200 changes per backend.
func BenchmarkDashboardSetRules(b *testing.B) {
	for _, be := range dashboardBackends {
		b.Run(be.name, func(b *testing.B) {
			if be.benchSkip != "" {
				b.Skip(be.benchSkip)
			}
			newFactory := be.new(b)
			a := newInstance(b, newFactory(b))
			peer := newInstance(b, newFactory(b))
			dash := newDashboardClient("127.0.0.1")
			if st, _ := dash.do(b, a.addr, "getRules", url.Values{"type": {"flow"}}); st != 200 {
				b.Fatal(st)
			}
			var set, enforced []time.Duration
			for i := 0; b.Loop(); i++ {
				res := fmt.Sprintf("bench-%d", i)
				t0 := time.Now()
				st, body := dash.do(b, a.addr, "setRules", url.Values{"type": {"flow"}, "data": {"[" + flowJSON(res, 0) + "]"}})
				if st != 200 {
					b.Fatalf("change %d: %d %q", i, st, body)
				}
				set = append(set, time.Since(t0))
				deadline := time.Now().Add(converge)
				for !peer.blocks(res) {
					if time.Now().After(deadline) {
						b.Fatalf("change %d not enforced by the peer within %v", i, converge)
					}
					time.Sleep(100 * time.Microsecond)
				}
				enforced = append(enforced, time.Since(t0))
			}
			reportPercentiles(b, "set-", set)
			reportPercentiles(b, "", enforced)
		})
	}
}
