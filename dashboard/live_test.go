package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/ruleapply"
)

// envUpdate rewrites testdata/dashboard-1.8.3 from what the real dashboard
// sends in TestRealDashboard.
const envUpdate = "RULESYNC_UPDATE_DASHBOARD_TESTDATA"

const capturedDir = "testdata/dashboard-1.8.3"

// recorder is a listener that keeps every request's bytes, in order.
type recorder struct {
	net.Listener
	mu   sync.Mutex
	reqs [][]byte
}

func (r *recorder) Accept() (net.Conn, error) {
	c, err := r.Listener.Accept()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, nil)
	i := len(r.reqs) - 1
	r.mu.Unlock()
	return &recConn{Conn: c, r: r, i: i}, nil
}

type recConn struct {
	net.Conn
	r *recorder
	i int
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.mu.Lock()
	c.r.reqs[c.i] = append(c.r.reqs[c.i], p[:n]...)
	c.r.mu.Unlock()
	return n, err
}

func (r *recorder) requests() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]byte, 0, len(r.reqs))
	for _, q := range r.reqs {
		if len(q) > 0 {
			out = append(out, append([]byte(nil), q...))
		}
	}
	return out
}

// live is a real dashboard managing a bench's agent.
type live struct {
	*bench
	d    *harness.SentinelDashboard
	rec  *recorder
	port string
	ctx  context.Context
}

func newLive(t *testing.T, appType AppType, opts ...Option) *live {
	d := harness.Dashboard(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Listener: ln}
	b := newBench(t, true, append([]Option{WithListener(rec), WithDashboards(d.Addr), WithHeartbeat(time.Second, 0), WithAppType(appType)}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	_, port, _ := net.SplitHostPort(b.addr)
	l := &live{bench: b, d: d, rec: rec, port: port, ctx: ctx}
	// The dashboard lists the machine once a heartbeat arrived.
	waitFor(t, "the dashboard to list the app", func() bool {
		data, err := d.Call(ctx, http.MethodGet, "/app/shop/machines.json", nil, nil)
		if err != nil {
			return false
		}
		var ms []struct {
			IP      string `json:"ip"`
			Port    int    `json:"port"`
			Healthy bool   `json:"healthy"`
			Version string `json:"version"`
		}
		return json.Unmarshal(data, &ms) == nil && len(ms) == 1 && ms[0].Healthy && strconv.Itoa(ms[0].Port) == port && ms[0].IP == "127.0.0.1"
	})
	return l
}

func (l *live) machine() url.Values {
	return url.Values{"app": {"shop"}, "ip": {"127.0.0.1"}, "port": {l.port}}
}

func (l *live) call(t *testing.T, method, path string, q url.Values, body any) json.RawMessage {
	t.Helper()
	data, err := l.d.Call(l.ctx, method, path, q, body)
	if err != nil {
		t.Fatalf("%s %s: %v\nagent log:\n%s", method, path, err, l.logs)
	}
	return data
}

func entityID(t *testing.T, data json.RawMessage) int64 {
	t.Helper()
	var e struct{ ID int64 }
	if err := json.Unmarshal(data, &e); err != nil || e.ID == 0 {
		t.Fatalf("no id in %s (%v)", data, err)
	}
	return e.ID
}

// blocked reports whether a call on resource is blocked now.
func (l *live) blocked(resource string, n int) int {
	blocked := 0
	for range n {
		en, err := l.e.Entry(context.Background(), resource)
		if err != nil {
			blocked++
			continue
		}
		en.Exit()
	}
	return blocked
}

// A real Sentinel dashboard (the republished upstream 1.8.3) lists the Go
// application, reads its rules, writes each change through the file
// datasource, and shows its resources and metrics.
func TestRealDashboard(t *testing.T) {
	l := newLive(t, AppNormal)
	m := l.machine()

	// Flow rules: the dashboard's own page calls.
	l.call(t, http.MethodGet, "/v1/flow/rules", m, nil)
	added := l.call(t, http.MethodPost, "/v1/flow/rule", nil, map[string]any{
		"app": "shop", "ip": "127.0.0.1", "port": l.port, "resource": "GET:/orders+new%", "limitApp": "default",
		"grade": 1, "count": 2, "strategy": 0, "controlBehavior": 0})
	id := entityID(t, added)
	if s := l.stored(t, ruleapply.Flow); !strings.Contains(s, `"GET:/orders+new%"`) || !strings.Contains(s, `"count": 2`) {
		t.Fatalf("the config center holds %s", s)
	}
	if n := l.blocked("GET:/orders+new%", 5); n != 3 {
		t.Fatalf("%d of 5 calls blocked, want 3 (count 2)", n)
	}
	l.call(t, http.MethodPut, "/v1/flow/save.json", url.Values{"id": {fmt.Sprint(id)}, "count": {"4"}}, nil)
	if s := l.stored(t, ruleapply.Flow); !strings.Contains(s, `"count": 4`) {
		t.Fatalf("after the edit the config center holds %s", s)
	}
	storedID := l.e.Flow().Rules()[0].ID
	// The dashboard reads the rules again (its ids are its own) and edits.
	l.call(t, http.MethodGet, "/v1/flow/rules", m, nil)
	rules := l.call(t, http.MethodGet, "/v1/flow/rules", m, nil)
	var ents []struct{ ID int64 }
	_ = json.Unmarshal(rules, &ents)
	if len(ents) != 1 {
		t.Fatalf("dashboard lists %s", rules)
	}
	l.call(t, http.MethodPut, "/v1/flow/save.json", url.Values{"id": {fmt.Sprint(ents[0].ID)}, "count": {"6"}}, nil)
	if r := l.e.Flow().Rules(); len(r) != 1 || r[0].Count != 6 || r[0].ID != storedID {
		t.Fatalf("after the second edit the engine holds %+v (id was %d)", r, storedID)
	}

	// Degrade, authority, param-flow and system rules.
	l.call(t, http.MethodGet, "/degrade/rules.json", m, nil)
	l.call(t, http.MethodPost, "/degrade/rule", nil, map[string]any{"app": "shop", "ip": "127.0.0.1", "port": l.port,
		"resource": "slow", "limitApp": "default", "grade": 0, "count": 200, "timeWindow": 10, "minRequestAmount": 5,
		"slowRatioThreshold": 0.5, "statIntervalMs": 1000})
	l.call(t, http.MethodGet, "/authority/rules", m, nil)
	l.call(t, http.MethodPost, "/authority/rule", nil, map[string]any{"app": "shop", "ip": "127.0.0.1", "port": l.port,
		"rule": map[string]any{"resource": "guarded", "limitApp": "evil", "strategy": 1}})
	l.call(t, http.MethodGet, "/paramFlow/rules", m, nil)
	l.call(t, http.MethodPost, "/paramFlow/rule", nil, map[string]any{"app": "shop", "ip": "127.0.0.1", "port": l.port,
		"rule": map[string]any{"resource": "hot", "limitApp": "default", "grade": 1, "paramIdx": 0, "count": 3,
			"durationInSec": 1, "controlBehavior": 0, "paramFlowItemList": []any{}}})
	l.call(t, http.MethodGet, "/system/rules.json", m, nil)
	l.call(t, http.MethodGet, "/system/new.json", url.Values{"app": {"shop"}, "ip": {"127.0.0.1"}, "port": {l.port}, "qps": {"5000"}}, nil)
	for _, rt := range []ruleapply.RuleType{ruleapply.Degrade, ruleapply.Authority, ruleapply.Param, ruleapply.System} {
		if l.stored(t, rt) == "" {
			t.Errorf("nothing stored for %s", rt.Name())
		}
	}
	if r := l.e.Param().Rules(); len(r) != 1 || r[0].Resource != "hot" || r[0].Count != 3 {
		t.Fatalf("param rules %+v", r)
	}
	if r := l.e.Authority().Rules(); len(r) != 1 || r[0].LimitApp != "evil" {
		t.Fatalf("authority rules %+v", r)
	}
	if r := l.e.System().Rules(); len(r) != 1 || r[0].QPS != 5000 {
		t.Fatalf("system rules %+v", r)
	}

	// A delete through the dashboard.
	l.call(t, http.MethodDelete, "/v1/flow/delete.json", url.Values{"id": {fmt.Sprint(ents[0].ID)}}, nil)
	if r := l.e.Flow().Rules(); len(r) != 0 {
		t.Fatalf("after delete: %+v", r)
	}

	// Resources and metrics: traffic for a few seconds, then the dashboard's
	// resource page and its chart data.
	stop := time.Now().Add(4 * time.Second)
	for time.Now().Before(stop) {
		l.blocked("traffic", 20)
		time.Sleep(50 * time.Millisecond)
	}
	var resources []struct {
		Resource string `json:"resource"`
		PassQps  int64  `json:"passQps"`
	}
	res := l.call(t, http.MethodGet, "/resource/machineResource.json", url.Values{"ip": {"127.0.0.1"}, "port": {l.port}, "type": {"root"}}, nil)
	if err := json.Unmarshal(res, &resources); err != nil || !strings.Contains(string(res), `"traffic"`) {
		t.Fatalf("resource page: %s (%v)\n%s", res, err, lastLines(l.d.Logs(), 400))
	}
	res = l.call(t, http.MethodGet, "/resource/machineResource.json", url.Values{"ip": {"127.0.0.1"}, "port": {l.port}, "type": {"cluster"}}, nil)
	if !strings.Contains(string(res), `"traffic"`) {
		t.Fatalf("cluster node page: %s", res)
	}
	waitFor(t, "the dashboard's metric fetcher to chart the resource", func() bool {
		data, err := l.d.Call(l.ctx, http.MethodGet, "/metric/queryTopResourceMetric.json", url.Values{"app": {"shop"}, "pageIndex": {"1"}, "pageSize": {"6"}, "desc": {"true"}, "searchKey": {"traffic"}}, nil)
		return err == nil && strings.Contains(string(data), `"traffic"`) && strings.Contains(string(data), `"passQps":`)
	})

	if os.Getenv(envUpdate) == "1" {
		writeCaptured(t, capturedDir, l.rec.requests())
	}
}

// Older versions in the heartbeat make the dashboard send changes as POST
// forms without a charset (1.6.x, 1.7.0) or as GET queries (before 1.6).
func TestRealDashboardOlderVersions(t *testing.T) {
	for _, v := range []string{"1.6.0", "1.5.0"} {
		t.Run(v, func(t *testing.T) {
			l := newLive(t, AppNormal, WithSentinelVersion(v))
			m := l.machine()
			l.call(t, http.MethodGet, "/v1/flow/rules", m, nil)
			added := l.call(t, http.MethodPost, "/v1/flow/rule", nil, map[string]any{
				"app": "shop", "ip": "127.0.0.1", "port": l.port, "resource": "a+b %c&d=e", "limitApp": "default",
				"grade": 1, "count": 2, "strategy": 0, "controlBehavior": 0})
			id := entityID(t, added)
			l.call(t, http.MethodPut, "/v1/flow/save.json", url.Values{"id": {fmt.Sprint(id)}, "count": {"3"}}, nil)
			if r := l.e.Flow().Rules(); len(r) != 1 || r[0].Resource != "a+b %c&d=e" || r[0].Count != 3 {
				t.Fatalf("engine holds %+v", r)
			}
			l.call(t, http.MethodDelete, "/v1/flow/delete.json", url.Values{"id": {fmt.Sprint(id)}}, nil)
			if r := l.e.Flow().Rules(); len(r) != 0 {
				t.Fatalf("after delete: %+v", r)
			}
			if os.Getenv(envUpdate) == "1" {
				writeCaptured(t, filepath.Join(capturedDir, "v"+v), l.rec.requests())
			}
		})
	}
}

// The dashboard's gateway pages: an API definition and a gateway flow rule
// with interval and intervalUnit (2 minutes), stored as intervalSec 120
// and enforced by the engine's gateway rules.
func TestRealDashboardGateway(t *testing.T) {
	l := newLive(t, AppGateway)
	m := l.machine()
	l.call(t, http.MethodGet, "/gateway/api/list.json", m, nil)
	l.call(t, http.MethodPost, "/gateway/api/new.json", nil, map[string]any{"app": "shop", "ip": "127.0.0.1", "port": l.port,
		"apiName": "orders-api", "predicateItems": []any{map[string]any{"pattern": "/orders/**", "matchStrategy": 1}}})
	l.call(t, http.MethodGet, "/gateway/flow/list.json", m, nil)
	l.call(t, http.MethodPost, "/gateway/flow/new.json", nil, map[string]any{"app": "shop", "ip": "127.0.0.1", "port": l.port,
		"resource": "orders-api", "resourceMode": 1, "grade": 1, "count": 3, "interval": 2, "intervalUnit": 1,
		"controlBehavior": 0, "burst": 0, "maxQueueingTimeoutMs": 500,
		"paramItem": map[string]any{"parseStrategy": 2, "fieldName": "X-User", "pattern": "vip+1", "matchStrategy": 0}})
	if r := l.e.Gateway().Rules(); len(r) != 1 || r[0].IntervalSec != 120 || r[0].Count != 3 || r[0].ParamItem == nil || r[0].ParamItem.Pattern != "vip+1" {
		t.Fatalf("gateway rules %+v", r)
	}
	if a := l.e.Gateway().APIs(); len(a) != 1 || a[0].APIName != "orders-api" {
		t.Fatalf("API definitions %+v", a)
	}
	if !strings.Contains(l.stored(t, ruleapply.GatewayFlow), `"intervalSec": 120`) || l.stored(t, ruleapply.GatewayAPI) == "" {
		t.Fatalf("stored %s / %s", l.stored(t, ruleapply.GatewayFlow), l.stored(t, ruleapply.GatewayAPI))
	}
	// The dashboard shows them back as 2 minutes.
	list := l.call(t, http.MethodGet, "/gateway/flow/list.json", m, nil)
	if !strings.Contains(string(list), `"interval":2`) || !strings.Contains(string(list), `"intervalUnit":1`) {
		t.Fatalf("gateway flow page: %s", list)
	}
	if os.Getenv(envUpdate) == "1" {
		writeCaptured(t, filepath.Join(capturedDir, "gateway"), l.rec.requests())
	}
}

// The dashboard's cluster page: it makes the application a token server
// (namespace set, transport, flow config, then the mode), then a client of
// that server, and shows each state.
func TestRealDashboardCluster(t *testing.T) {
	roles := newClusterRoles(t)
	l := newLive(t, AppNormal, WithCluster(roles.cluster))
	_, srvPort, _ := net.SplitHostPort(roles.srv.Addr().String())
	l.call(t, http.MethodPost, "/cluster/config/modify_single", nil, map[string]any{"app": "shop", "ip": "127.0.0.1", "port": l.port, "mode": 1,
		"namespaceSet": []string{"shop", "orders"}, "transportConfig": map[string]any{"port": srvPort, "idleSeconds": 300},
		"flowConfig": map[string]any{"exceedCount": 1.2, "maxOccupyRatio": 1, "intervalMs": 1000, "sampleCount": 10, "maxAllowedQps": 800}})
	if fc, _ := roles.fc.Get(); fc.MaxAllowedQps != 800 || fc.ExceedCount != 1.2 {
		t.Fatalf("flow config %+v", fc)
	}
	if ns, _ := roles.ns.Get(); strings.Join(ns, ",") != "shop,orders" && strings.Join(ns, ",") != "orders,shop" {
		t.Fatalf("namespaces %v", ns)
	}
	state := l.call(t, http.MethodGet, "/cluster/state_single", l.machine(), nil)
	if !strings.Contains(string(state), `"mode":1`) || !strings.Contains(string(state), `"maxAllowedQps":800`) {
		t.Fatalf("server state page: %s", state)
	}
	l.call(t, http.MethodPost, "/cluster/config/modify_single", nil, map[string]any{"app": "shop", "ip": "127.0.0.1", "port": l.port, "mode": 0,
		"clientConfig": map[string]any{"serverHost": "127.0.0.1", "serverPort": srvPort, "requestTimeout": 40, "connectTimeout": 1000}})
	waitFor(t, "the dashboard to show a started client", func() bool {
		state, err := l.d.Call(l.ctx, http.MethodGet, "/cluster/state_single", l.machine(), nil)
		return err == nil && strings.Contains(string(state), `"mode":0`) && strings.Contains(string(state), `"clientState":2`)
	})
	if c, _ := roles.ccfg.Get(); len(c.Servers) != 1 || c.RequestTimeout != 40*time.Millisecond {
		t.Fatalf("client config %+v", c)
	}
}

// writeCaptured stores the dashboard's requests for the conformance test.
func writeCaptured(t *testing.T, dir string, reqs [][]byte) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, q := range reqs {
		line, _, _ := strings.Cut(string(q), "\r\n")
		parts := strings.Fields(line)
		if len(parts) < 2 {
			continue
		}
		cmd, _, _ := strings.Cut(strings.TrimPrefix(parts[1], "/"), "?")
		if cmd == "metric" || cmd == "clusterNode" || cmd == "jsonTree" {
			// Kept once each: they repeat every second.
			if _, err := os.Stat(filepath.Join(dir, "once-"+strings.ReplaceAll(cmd, "/", "_")+".http")); err == nil {
				continue
			}
			_ = os.WriteFile(filepath.Join(dir, "once-"+strings.ReplaceAll(cmd, "/", "_")+".http"), q, 0o644)
			continue
		}
		n++
		name := fmt.Sprintf("%03d-%s.http", n, strings.ReplaceAll(cmd, "/", "_"))
		if err := os.WriteFile(filepath.Join(dir, name), q, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d requests to %s", n, dir)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
