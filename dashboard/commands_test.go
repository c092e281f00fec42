package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/ruleapply"
)

// flowRuleJSON is a flow rule as the dashboard's FlowRuleEntity.toRule and
// fastjson write it: no id, regex false, fields in alphabetical order.
func flowRuleJSON(resource string, count float64) string {
	return fmt.Sprintf(`{"clusterMode":false,"controlBehavior":0,"count":%s,"grade":1,"limitApp":"default","maxQueueingTimeMs":500,"regex":false,"resource":%q,"strategy":0,"warmUpPeriodSec":10}`,
		strconv.FormatFloat(count, 'f', 1, 64), resource)
}

func list(rules ...string) string { return "[" + strings.Join(rules, ",") + "]" }

// The dashboard's flow page: read the rules, add one, edit it, delete it;
// every change lands in the file datasource and in the engine, and the
// answers read as success the way the dashboard reads them, for each of
// the three ways the dashboard sends a change (by the version the
// heartbeat reports).
func TestFlowRulesRoundTrip(t *testing.T) {
	for _, how := range []string{"post-charset", "post-plain", "get"} {
		t.Run(how, func(t *testing.T) {
			b := newBench(t, true)
			set := func(data string) answer {
				params := kv{{"type", "flow"}, {"data", data}}
				switch how {
				case "post-charset":
					return b.post(t, "setRules", params, formCharset)
				case "post-plain":
					return b.post(t, "setRules", params, formPlain)
				}
				return b.get(t, "setRules", params)
			}
			if got := rulesOf(t, b.get(t, "getRules", kv{{"type", "flow"}})); len(got) != 0 {
				t.Fatalf("rules before any change: %v", got)
			}
			// A resource name with '+', '%' and '|', decoded once.
			res := "GET:/a+b%20c|d"
			if a := set(list(flowRuleJSON(res, 1))); !a.success() {
				t.Fatalf("add: %d %q\n%s", a.status, a.body, b.logs)
			}
			got := rulesOf(t, b.get(t, "getRules", kv{{"type", "flow"}}))
			if len(got) != 1 || got[0]["resource"] != res || got[0]["count"] != 1.0 {
				t.Fatalf("after add: %v", got)
			}
			id := got[0]["id"].(float64)
			if id < 1 || id > MaxID {
				t.Fatalf("id %v", id)
			}
			if s := b.stored(t, ruleapply.Flow); !strings.Contains(s, `"GET:/a+b%20c|d"`) {
				t.Fatalf("stored %s", s)
			}
			en, err := b.e.Entry(context.Background(), res)
			if err != nil {
				t.Fatal(err)
			}
			en.Exit()
			if _, err := b.e.Entry(context.Background(), res); err == nil {
				t.Fatal("the rule written through the dashboard is not enforced")
			}
			// The dashboard sends the whole list again, edited, without ids.
			if a := set(list(flowRuleJSON(res, 5), flowRuleJSON("other", 2))); !a.success() {
				t.Fatalf("edit: %d %q", a.status, a.body)
			}
			got = rulesOf(t, b.get(t, "getRules", kv{{"type", "flow"}}))
			if len(got) != 2 || resources(got, "resource")[0] != res {
				t.Fatalf("after edit: %v", got)
			}
			for _, r := range got {
				if r["resource"] == res && (r["id"] != id || r["count"] != 5.0) {
					t.Fatalf("the edited rule lost its id %v: %v", id, r)
				}
			}
			if a := set(list(flowRuleJSON("other", 2))); !a.success() {
				t.Fatalf("delete: %d %q", a.status, a.body)
			}
			if got := rulesOf(t, b.get(t, "getRules", kv{{"type", "flow"}})); len(got) != 1 || got[0]["resource"] != "other" {
				t.Fatalf("after delete: %v", got)
			}
			if len(b.e.Flow().Rules()) != 1 {
				t.Fatalf("engine holds %v", b.e.Flow().Rules())
			}
			if !strings.Contains(b.logs.String(), "client=127.0.0.1") || !strings.Contains(b.logs.String(), "dashboard: rules written") {
				t.Fatalf("writes not logged with the client:\n%s", b.logs)
			}
		})
	}
}

// Each other rule type of the dashboard: its get and set commands, its
// payload as the dashboard sends it, the answer as the dashboard reads it.
func TestEveryRuleType(t *testing.T) {
	for _, tc := range []struct {
		name     string
		get, set string
		params   kv
		rt       ruleapply.RuleType
		data     string
		key      string
		want     string
	}{
		{"degrade", "getRules", "setRules", kv{{"type", "degrade"}}, ruleapply.Degrade,
			`[{"count":100.0,"grade":0,"limitApp":"default","minRequestAmount":5,"resource":"slow","slowRatioThreshold":0.5,"statIntervalMs":1000,"timeWindow":10}]`,
			"resource", "slow"},
		{"system", "getRules", "setRules", kv{{"type", "SYSTEM"}}, ruleapply.System,
			`[{"avgRt":-1,"highestCpuUsage":-1.0,"highestSystemLoad":-1.0,"maxThread":-1,"qps":500.0}]`,
			"qps", "500"},
		{"authority", "getRules", "setRules", kv{{"type", "authority"}}, ruleapply.Authority,
			`[{"limitApp":"appA,appB","regex":false,"resource":"guarded","strategy":1}]`,
			"resource", "guarded"},
		// The dashboard sends the rules of its param entities, unwrapped.
		{"param-flow", "getParamFlowRules", "setParamFlowRules", nil, ruleapply.Param,
			`[{"burstCount":0,"clusterMode":false,"controlBehavior":0,"count":5.0,"durationInSec":1,"grade":1,"limitApp":"default","maxQueueingTimeMs":0,"paramFlowItemList":[{"classType":"int","count":1,"object":"7"}],"paramIdx":0,"regex":false,"resource":"hot"}]`,
			"resource", "hot"},
		// Gateway rules as GatewayFlowRuleEntity.toGatewayFlowRule writes them.
		{"gw-flow", "gateway/getRules", "gateway/updateRules", nil, ruleapply.GatewayFlow,
			`[{"burst":0,"controlBehavior":0,"count":10.0,"grade":1,"intervalSec":60,"maxQueueingTimeoutMs":500,"paramItem":{"fieldName":"X-User","matchStrategy":0,"parseStrategy":2,"pattern":"vip+1"},"resource":"route-a","resourceMode":0}]`,
			"resource", "route-a"},
		{"gw-api", "gateway/getApiDefinitions", "gateway/updateApiDefinitions", nil, ruleapply.GatewayAPI,
			`[{"apiName":"orders","predicateItems":[{"matchStrategy":1,"pattern":"/orders/**"}]}]`,
			"apiName", "orders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBench(t, true)
			rulesOf(t, b.get(t, tc.get, tc.params))
			a := b.post(t, tc.set, append(slices.Clone(tc.params), [2]string{"data", tc.data}), formCharset)
			if !a.success() {
				t.Fatalf("%s: %d %q\n%s", tc.set, a.status, a.body, b.logs)
			}
			got := rulesOf(t, b.get(t, tc.get, tc.params))
			if len(got) != 1 || fmt.Sprint(got[0][tc.key]) != tc.want {
				t.Fatalf("%s after set: %v", tc.get, got)
			}
			if b.stored(t, tc.rt) == "" {
				t.Fatalf("nothing stored for %s", tc.rt.Name())
			}
			if tc.rt == ruleapply.GatewayFlow {
				// The plus of the pattern survived one decode.
				if pi := got[0]["paramItem"].(map[string]any); pi["pattern"] != "vip+1" {
					t.Fatalf("pattern %v", pi["pattern"])
				}
			}
		})
	}
}

// The gateway commands exist for gateway apps only, as in Java.
func TestGatewayCommandsOnlyForGateways(t *testing.T) {
	b := newBench(t, false, WithAppType(AppNormal))
	if a := b.get(t, "gateway/getRules", nil); a.status != http.StatusBadRequest || a.body != "Unknown command `gateway/getRules`" {
		t.Fatalf("%d %q", a.status, a.body)
	}
}

// Java's wire rules: 415, 411, 400 for a blank or unknown command, bad
// types and escapes; every answer closes the connection.
func TestWireBehaviour(t *testing.T) {
	b := newBench(t, true)
	for _, tc := range []struct {
		name, req string
		status    int
		body      string
	}{
		{"json post", "POST /setRules HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]", 415, "Only form-encoded post request is supported"},
		{"no length", "POST /setRules HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n", 411, "No legal Content-Length"},
		{"chunked", "POST /setRules HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n4\r\na=bc\r\n0\r\n\r\n", 411, "No legal Content-Length"},
		{"unknown", "GET /nope?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Unknown command `nope`"},
		{"blank", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Invalid command"},
		{"bad type", "GET /getRules?type=nope HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid type"},
		{"no type", "GET /setRules?data=%5B%5D HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid type"},
		{"bad escape", "GET /getRules?type=fl%zzow HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"no data", "GET /setRules?type=flow HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"not json", "GET /setRules?type=flow&data=%7Bnope HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"http/1.0", "GET /getRules?type=flow HTTP/1.0\r\n\r\n", 200, "[]"},
		// A POST without a Content-Type is read as a form, as Java does.
		{"untyped form", "POST /getRules HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\ntype=flow", 200, "[]"},
		// Form parameters override query parameters.
		{"override", "POST /getRules?type=nope HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\ntype=flow", 200, "[]"},
	} {
		a := b.raw(t, tc.req)
		if a.status != tc.status || tc.body != "" && a.body != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.name, a.status, a.body, tc.status, tc.body)
		}
		if !a.close {
			t.Errorf("%s: the answer does not close the connection", tc.name)
		}
	}
	// A rejected rule stores nothing and says why.
	a := b.post(t, "setRules", kv{{"type", "flow"}, {"data", `[{"resource":"x","count":-1,"grade":1}]`}}, formCharset)
	if a.status != 400 || !strings.Contains(a.body, "nothing stored") || !strings.Contains(a.body, "count") {
		t.Fatalf("invalid rule: %d %q", a.status, a.body)
	}
	if b.stored(t, ruleapply.Flow) != "" {
		t.Fatal("an invalid rule was stored")
	}
}

// A change is stored only over the rules the client read: a change made
// meanwhile by someone else is reported, not overwritten; a list from a
// client that never read is refused.
func TestConflictsAreReported(t *testing.T) {
	b := newBench(t, true)
	set := func(data string) answer {
		return b.post(t, "setRules", kv{{"type", "flow"}, {"data", data}}, formCharset)
	}
	if a := set(list(flowRuleJSON("a", 1))); a.status != http.StatusConflict || !strings.Contains(a.body, "has not read") {
		t.Fatalf("set without a read: %d %q", a.status, a.body)
	}
	rulesOf(t, b.get(t, "getRules", kv{{"type", "flow"}}))
	if a := set(list(flowRuleJSON("a", 1))); !a.success() {
		t.Fatalf("%d %q", a.status, a.body)
	}
	// Someone else changes the rules through the datasource.
	bind, _ := b.app.Binding(engine.FamilyFlow)
	cur, tok := bind.Current()
	rules := append(slices.Clone(cur.([]flowRule)), flowRuleOf("b", 3))
	if _, err := bind.WriteIf(context.Background(), rules, tok); err != nil {
		t.Fatal(err)
	}
	// The dashboard still holds [a] and adds c: refused, b is kept.
	a := set(list(flowRuleJSON("a", 1), flowRuleJSON("c", 1)))
	if a.status != http.StatusConflict || !strings.Contains(a.body, "changed since this client read them") {
		t.Fatalf("stale list: %d %q", a.status, a.body)
	}
	if got := resources(rulesOf(t, b.get(t, "getRules", kv{{"type", "flow"}})), "resource"); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("rules after the refused change: %v", got)
	}
	// Having read again, the same change goes through.
	if a := set(list(flowRuleJSON("a", 1), flowRuleJSON("b", 3), flowRuleJSON("c", 1))); !a.success() {
		t.Fatalf("after reading again: %d %q", a.status, a.body)
	}
}

// A dashboard that restarted forgets the rules and numbers its own from 1:
// its list cannot wipe or take over the rules in force.
func TestDashboardRestart(t *testing.T) {
	b := newBench(t, true)
	rulesOf(t, b.get(t, "getRules", kv{{"type", "authority"}}))
	set := func(data string) answer {
		return b.post(t, "setRules", kv{{"type", "authority"}, {"data", data}}, formCharset)
	}
	old := `[{"id":1,"limitApp":"a","resource":"r1","strategy":0},{"id":2,"limitApp":"b","resource":"r2","strategy":0}]`
	if a := set(old); !a.success() {
		t.Fatalf("%d %q", a.status, a.body)
	}
	// A new rule numbered 1 (the dashboard's counter after a restart) next
	// to the rules it read again: it gets a fresh id, rule 1 stays.
	a := set(`[{"id":1,"limitApp":"a","resource":"r1","strategy":0},{"id":2,"limitApp":"b","resource":"r2","strategy":0},{"id":1,"limitApp":"c","resource":"r3","strategy":1}]`)
	if !a.success() {
		t.Fatalf("%d %q", a.status, a.body)
	}
	got := rulesOf(t, b.get(t, "getRules", kv{{"type", "authority"}}))
	byRes := map[string]float64{}
	for _, r := range got {
		byRes[r["resource"].(string)] = r["id"].(float64)
	}
	if len(byRes) != 3 || byRes["r1"] != 1 || byRes["r2"] != 2 || byRes["r3"] <= 2 || byRes["r3"] > MaxID {
		t.Fatalf("ids after the restart: %v", byRes)
	}
	// A list that forgot the rules in force (only the new one, numbered 1)
	// would delete them everywhere: refused.
	a = set(`[{"id":1,"limitApp":"d","resource":"r4","strategy":0}]`)
	if a.status != http.StatusConflict || !strings.Contains(a.body, "removes 3") {
		t.Fatalf("forgetful list: %d %q", a.status, a.body)
	}
	if got := rulesOf(t, b.get(t, "getRules", kv{{"type", "authority"}})); len(got) != 3 {
		t.Fatalf("rules after the refused list: %v", got)
	}
}

// Without a datasource a change is refused by default, or applied in
// memory as Java does.
func TestUnbound(t *testing.T) {
	b := newBench(t, false)
	a := b.post(t, "setRules", kv{{"type", "flow"}, {"data", list(flowRuleJSON("x", 1))}}, formCharset)
	if a.status != http.StatusNotImplemented || !strings.Contains(a.body, "no writable datasource") {
		t.Fatalf("refuse: %d %q", a.status, a.body)
	}
	mem := newBench(t, false, WithUnbound(ApplyInMemory))
	if a := mem.post(t, "setRules", kv{{"type", "flow"}, {"data", list(flowRuleJSON("x", 1))}}, formCharset); !a.success() {
		t.Fatalf("in memory: %d %q", a.status, a.body)
	}
	if r := mem.e.Flow().Rules(); len(r) != 1 || r[0].Resource != "x" || r[0].ID < 1 {
		t.Fatalf("engine: %+v", r)
	}
}

// The allow list closes connections from other addresses before reading.
func TestAllowList(t *testing.T) {
	b := newBench(t, false, WithAllowedClients("127.0.0.2"))
	c, err := net.DialTimeout("tcp", b.addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /getRules?type=flow HTTP/1.1\r\nHost: x\r\n\r\n")
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("a client not allowed got an answer: %d %v", n, err)
	}
	// From 127.0.0.2 (all of 127/8 is loopback on Linux) it is served.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: time.Second}
	c2, err := d.Dial("tcp", b.addr)
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "GET /getRules?type=flow HTTP/1.0\r\n\r\n")
	buf := make([]byte, 12)
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(buf); err != nil || !strings.HasPrefix(string(buf), "HTTP/1.") {
		t.Fatalf("allowed client: %q %v", buf, err)
	}
	waitFor(t, "the refusal logged", func() bool { return strings.Contains(b.logs.String(), "client not allowed") })
	if _, err := New(b.e, "x", WithAllowedClients("not-an-ip")); err == nil {
		t.Fatal("a bad allow list entry was accepted")
	}
}

// The data limit answers 413, for the body and for the query.
func TestDataLimit(t *testing.T) {
	b := newBench(t, true, WithMaxDataBytes(1024))
	rulesOf(t, b.get(t, "getRules", kv{{"type", "flow"}}))
	big := list(flowRuleJSON(strings.Repeat("x", 2000), 1))
	if a := b.post(t, "setRules", kv{{"type", "flow"}, {"data", big}}, formCharset); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("big body: %d %q", a.status, a.body)
	}
	if a := b.get(t, "setRules", kv{{"type", "flow"}, {"data", big}}); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("big query: %d %q", a.status, a.body)
	}
	if b.stored(t, ruleapply.Flow) != "" {
		t.Fatal("stored")
	}
	if a := b.post(t, "setRules", kv{{"type", "flow"}, {"data", list(flowRuleJSON("small", 1))}}, formCharset); !a.success() {
		t.Fatalf("small: %d %q", a.status, a.body)
	}
}

// A client that sends its request slowly holds its own connection only.
func TestSlowClient(t *testing.T) {
	b := newBench(t, false, WithIOTimeout(2*time.Second))
	slow, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST /setRules HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n") // and then nothing
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := b.get(t, "getRules", kv{{"type", "flow"}}); a.status != 200 {
				t.Errorf("%d %q", a.status, a.body)
			}
		}()
	}
	wg.Wait()
	// The slow one is cut off at the I/O timeout (read until the server closes).
	_ = slow.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := slow.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept the slow connection open past its I/O timeout")
			}
			break
		}
	}
}

// The command list, version and basic info answer.
func TestInfoCommands(t *testing.T) {
	b := newBench(t, false)
	if a := b.get(t, "version", nil); a.body != DefaultSentinelVersion {
		t.Fatalf("version %q", a.body)
	}
	var cmds []struct{ URL string }
	if err := json.Unmarshal([]byte(b.get(t, "api", nil).body), &cmds); err != nil || len(cmds) < 10 {
		t.Fatalf("api: %v %v", cmds, err)
	}
}

type flowRule = flow.Rule

func flowRuleOf(res string, count float64) flowRule { return fr(0, res, count) }
