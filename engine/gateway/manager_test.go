package gateway_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/internal/kernel"
	"github.com/rulesync/rulesync/engine/internal/stat"
)

// req is a RequestInfo for tests.
type req struct {
	ip, host string
	headers  map[string]string
	query    map[string]string
	cookies  map[string]string
}

func (r req) ClientIP() string       { return r.ip }
func (r req) Host() string           { return r.host }
func (r req) Header(n string) string { return r.headers[n] }
func (r req) Query(n string) string  { return r.query[n] }
func (r req) Cookie(n string) string { return r.cookies[n] }

// call parses the request for resource and checks it as the engine would,
// exiting at once when it passed.
func call(m *gateway.Manager, clock stat.Clock, resource string, r gateway.RequestInfo) *base.BlockError {
	c := &kernel.Context{Resource: resource, Count: 1, Inbound: true, NowMs: clock.NowMs(), Args: m.ParseArgs(resource, r)}
	be := m.Check(c)
	if be == nil {
		m.Exit(c)
	}
	return be
}

// passes counts how many of n calls pass.
func passes(m *gateway.Manager, clock stat.Clock, resource string, r gateway.RequestInfo, n int) int {
	ok := 0
	for range n {
		if call(m, clock, resource, r) == nil {
			ok++
		}
	}
	return ok
}

func rule(resource string, count float64, item *gateway.ParamItem) gateway.Rule {
	r := gateway.DefaultRule()
	r.Resource, r.Count, r.ParamItem = resource, count, item
	return r
}

func TestCheckPlainRule(t *testing.T) {
	clock := stat.NewManualClock(1_000_000)
	m := gateway.NewManager(clock)
	m.Load([]gateway.Rule{rule("product_route", 3, nil)})
	if got := passes(m, clock, "product_route", req{ip: "1.1.1.1"}, 5); got != 3 {
		t.Errorf("%d of 5 passed, want 3", got)
	}
	be := call(m, clock, "product_route", req{})
	if be == nil {
		t.Fatal("4th call in the same second passed")
	}
	if be.Family != base.FamilyGateway || be.Resource != "product_route" || !errors.Is(be, base.ErrBlocked) {
		t.Errorf("block error %+v", be)
	}
	if r, ok := be.Rule.(gateway.Rule); !ok || r.Count != 3 || r.Resource != "product_route" {
		t.Errorf("block error names %#v, want the gateway rule", be.Rule)
	}
	if be.Value != nil {
		t.Errorf("block error value %v, want nil for $D", be.Value)
	}
	// Another resource is not limited.
	if got := passes(m, clock, "httpbin_route", req{}, 10); got != 10 {
		t.Errorf("unrelated resource: %d of 10 passed", got)
	}
	// Sentinel's bucket refills once more than a whole interval has passed.
	clock.Advance(1001 * time.Millisecond)
	if got := passes(m, clock, "product_route", req{}, 5); got != 3 {
		t.Errorf("next second: %d of 5 passed, want 3", got)
	}
}

func TestCheckPerIPRegex(t *testing.T) {
	clock := stat.NewManualClock(1_000_000)
	m := gateway.NewManager(clock)
	m.Load([]gateway.Rule{rule("route", 2, &gateway.ParamItem{
		ParseStrategy: gateway.ParseClientIP, Pattern: `10\.0\.0\.[0-9]+`, MatchStrategy: gateway.ParamMatchRegex,
	})})
	for _, ip := range []string{"10.0.0.1", "10.0.0.2"} {
		if got := passes(m, clock, "route", req{ip: ip}, 5); got != 2 {
			t.Errorf("matching IP %s: %d of 5 passed, want 2 (per IP)", ip, got)
		}
	}
	be := call(m, clock, "route", req{ip: "10.0.0.1"})
	if be == nil || be.Value != "10.0.0.1" {
		t.Errorf("block error %+v, want the limited IP as its value", be)
	}
	if r, ok := be.Rule.(gateway.Rule); !ok || r.ParamItem == nil || r.ParamItem.Pattern != `10\.0\.0\.[0-9]+` {
		t.Errorf("block error rule %#v, want the per-IP gateway rule", be.Rule)
	}
	// Every non-matching IP shares "$NM", which has a pass-through threshold.
	for _, ip := range []string{"192.168.1.1", "192.168.1.2", "10.0.0.1.5"} {
		if got := passes(m, clock, "route", req{ip: ip}, 50); got != 50 {
			t.Errorf("non-matching IP %s: %d of 50 passed, want all", ip, got)
		}
	}
}

func TestCheckHeaderPrefix(t *testing.T) {
	clock := stat.NewManualClock(1_000_000)
	m := gateway.NewManager(clock)
	m.Load([]gateway.Rule{rule("api", 1, &gateway.ParamItem{
		ParseStrategy: gateway.ParseHeader, FieldName: "X-Tenant", Pattern: "free-", MatchStrategy: gateway.ParamMatchPrefix,
	})})
	free := req{headers: map[string]string{"X-Tenant": "free-7"}}
	paid := req{headers: map[string]string{"X-Tenant": "paid-free-7"}}
	if got := passes(m, clock, "api", free, 3); got != 1 {
		t.Errorf("prefix-matching tenant: %d of 3 passed, want 1", got)
	}
	if got := passes(m, clock, "api", paid, 3); got != 3 {
		t.Errorf("tenant containing but not starting with the prefix: %d of 3 passed, want 3", got)
	}
	if got := passes(m, clock, "api", req{}, 3); got != 3 {
		t.Errorf("request without the header: %d of 3 passed, want 3", got)
	}
}

func TestCheckIntervalSec60(t *testing.T) {
	clock := stat.NewManualClock(1_000_000)
	m := gateway.NewManager(clock)
	r := rule("route", 5, nil)
	r.IntervalSec = 60
	m.Load([]gateway.Rule{r})
	if got := passes(m, clock, "route", req{}, 10); got != 5 {
		t.Fatalf("%d of 10 passed, want 5", got)
	}
	// A per-second limit would allow 5 more now; a per-minute one does not.
	clock.Advance(time.Second)
	if got := passes(m, clock, "route", req{}, 5); got != 0 {
		t.Errorf("1 s later: %d passed, want 0", got)
	}
	clock.Advance(60 * time.Second)
	if got := passes(m, clock, "route", req{}, 10); got != 5 {
		t.Errorf("a minute later: %d of 10 passed, want 5", got)
	}
}

func TestCheckDashboardInterval(t *testing.T) {
	// The dashboard stores interval 2 + intervalUnit 1 (minute): 120 s.
	data := []byte(`[{"resource":"route","count":4,"interval":2,"intervalUnit":1,"app":"gw","gmtCreate":1}]`)
	rules, rep, err := converter.GatewayFlow().Decode(data)
	if err != nil {
		t.Fatalf("decode: %v (report %+v)", err, rep)
	}
	if len(rules) != 1 || rules[0].IntervalSec != 120 {
		t.Fatalf("decoded %+v, want intervalSec 120", rules)
	}
	clock := stat.NewManualClock(1_000_000)
	m := gateway.NewManager(clock)
	m.Load(rules)
	if got := passes(m, clock, "route", req{}, 8); got != 4 {
		t.Fatalf("%d of 8 passed, want 4", got)
	}
	clock.Advance(61 * time.Second) // a minute would have refilled; 120 s did not yet
	if got := passes(m, clock, "route", req{}, 8); got != 0 {
		t.Errorf("61 s later: %d passed, want 0", got)
	}
	clock.Advance(60 * time.Second)
	if got := passes(m, clock, "route", req{}, 8); got != 4 {
		t.Errorf("after the interval: %d of 8 passed, want 4", got)
	}
}

func TestCheckMixedRulesIndependent(t *testing.T) {
	clock := stat.NewManualClock(1_000_000)
	m := gateway.NewManager(clock)
	m.Load([]gateway.Rule{
		rule("route", 100, nil), // route-wide
		rule("route", 2, &gateway.ParamItem{ParseStrategy: gateway.ParseURLParam, FieldName: "uid"}),
		rule("route", 1, &gateway.ParamItem{ParseStrategy: gateway.ParseCookie, FieldName: "sess", Pattern: "bot", MatchStrategy: gateway.ParamMatchContains}),
		rule("route", 3, &gateway.ParamItem{ParseStrategy: gateway.ParseHost, Pattern: "a.example", MatchStrategy: gateway.ParamMatchExact}),
	})
	u1 := req{query: map[string]string{"uid": "1"}}
	u2 := req{query: map[string]string{"uid": "2"}}
	if got := passes(m, clock, "route", u1, 4); got != 2 {
		t.Errorf("uid=1: %d of 4 passed, want 2", got)
	}
	if got := passes(m, clock, "route", u2, 4); got != 2 {
		t.Errorf("uid=2: %d of 4 passed, want 2 (own bucket)", got)
	}
	bot := req{cookies: map[string]string{"sess": "xbotx"}}
	if got := passes(m, clock, "route", bot, 3); got != 1 {
		t.Errorf("bot cookie: %d of 3 passed, want 1", got)
	}
	host := req{host: "a.example"}
	if got := passes(m, clock, "route", host, 5); got != 3 {
		t.Errorf("host a.example: %d of 5 passed, want 3", got)
	}
	// The route-wide rule (100/s) is far from its limit.
	if be := call(m, clock, "route", req{host: "b.example"}); be != nil {
		t.Errorf("plain request blocked: %v", be)
	}
}

func TestReloadKeepsCounters(t *testing.T) {
	clock := stat.NewManualClock(1_000_000)
	m := gateway.NewManager(clock)
	a, b := rule("a", 2, nil), rule("b", 2, nil)
	m.Load([]gateway.Rule{a, b})
	passes(m, clock, "a", req{}, 2)
	passes(m, clock, "b", req{}, 2)
	b2 := b
	b2.Count = 3
	rep := m.Load([]gateway.Rule{a, b2})
	if rep.Kept != 1 {
		t.Errorf("Kept = %d, want 1", rep.Kept)
	}
	if got := passes(m, clock, "a", req{}, 1); got != 0 {
		t.Error("unchanged rule lost its counters on reload")
	}
	if got := passes(m, clock, "b", req{}, 3); got != 3 {
		t.Errorf("changed rule: %d of 3 passed, want a fresh bucket of 3", got)
	}
}

func TestAPIsAndRulesInEitherOrder(t *testing.T) {
	apis := []gateway.APIDefinition{{APIName: "some_customized_api", PredicateItems: []gateway.PredicateItem{
		{Pattern: "/product/foo/**", MatchStrategy: gateway.URLMatchPrefix},
	}}}
	r := rule("some_customized_api", 1, nil)
	r.ResourceMode = gateway.ResourceModeCustomAPIName

	for _, apisFirst := range []bool{true, false} {
		clock := stat.NewManualClock(1_000_000)
		m := gateway.NewManager(clock)
		if apisFirst {
			m.LoadAPIs(apis)
		} else {
			m.Load([]gateway.Rule{r})
			// A rule naming an API that is not defined matches no request.
			if got := m.MatchingAPIs("/product/foo/1", nil); got != nil {
				t.Fatalf("matched %q before the API was defined", got)
			}
			m.LoadAPIs(apis)
		}
		if apisFirst {
			m.Load([]gateway.Rule{r})
		}
		names := m.MatchingAPIs("/product/foo/1", nil)
		if len(names) != 1 || names[0] != "some_customized_api" {
			t.Fatalf("apisFirst=%v: MatchingAPIs = %q", apisFirst, names)
		}
		if got := passes(m, clock, names[0], req{}, 3); got != 1 {
			t.Errorf("apisFirst=%v: %d of 3 passed, want 1", apisFirst, got)
		}
		if got := m.APIs(); len(got) != 1 || got[0].APIName != "some_customized_api" {
			t.Errorf("APIs() = %+v", got)
		}
	}
}

func TestLiteralMarkerValueIsLimited(t *testing.T) {
	clock := stat.NewManualClock(1_000_000)
	m := gateway.NewManager(clock)
	m.Load([]gateway.Rule{rule("route", 1, &gateway.ParamItem{
		ParseStrategy: gateway.ParseHeader, FieldName: "X-User", Pattern: `.*`, MatchStrategy: gateway.ParamMatchRegex,
	})})
	sneaky := req{headers: map[string]string{"X-User": gateway.NotMatchParam}}
	if got := passes(m, clock, "route", sneaky, 5); got != 1 {
		t.Errorf("a client sending %q: %d of 5 passed, want 1", gateway.NotMatchParam, got)
	}
}
