package httpgw_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/gateway/httpgw"
)

// routeByPrefix is the route table of Sentinel's gateway example.
func routeByPrefix(r *http.Request) string {
	switch {
	case strings.HasPrefix(r.URL.Path, "/product/"):
		return "product_route"
	case strings.HasPrefix(r.URL.Path, "/httpbin/"):
		return "httpbin_route"
	}
	return ""
}

func exampleAPIs() []gateway.APIDefinition {
	return []gateway.APIDefinition{
		{APIName: "some_customized_api", PredicateItems: []gateway.PredicateItem{
			{Pattern: "/product/baz", MatchStrategy: gateway.URLMatchExact},
			{Pattern: "/product/foo/**", MatchStrategy: gateway.URLMatchPrefix},
		}},
		{APIName: "another_customized_api", PredicateItems: []gateway.PredicateItem{{Pattern: "/ahas"}}},
	}
}

func gwRule(resource string, mode int, count float64, item *gateway.ParamItem) gateway.Rule {
	r := gateway.DefaultRule()
	r.Resource, r.ResourceMode, r.Count, r.ParamItem = resource, mode, count, item
	return r
}

type fixture struct {
	e     *engine.Engine
	clock *engine.ManualClock
	h     http.Handler
}

func newFixture(t *testing.T, rules []gateway.Rule, handler http.Handler, opts ...httpgw.Option) *fixture {
	t.Helper()
	clock := engine.NewManualClock(1_000_000)
	e := engine.New(engine.WithClock(clock))
	t.Cleanup(func() { _ = e.Close() })
	if rep := e.Gateway().LoadAPIs(exampleAPIs()); len(rep.Rejected) != 0 {
		t.Fatalf("LoadAPIs: %+v", rep)
	}
	if rep := e.Gateway().Load(rules); len(rep.Rejected) != 0 {
		t.Fatalf("Load: %+v", rep)
	}
	if handler == nil {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	}
	opts = append([]httpgw.Option{httpgw.WithRouteID(routeByPrefix)}, opts...)
	return &fixture{e: e, clock: clock, h: httpgw.New(e, opts...)(handler)}
}

func (f *fixture) do(path string, mod ...func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = "203.0.113.9:40000"
	for _, m := range mod {
		m(req)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) passQPS(resource string) float64 { return f.stats(resource).PassQPS }

// stats reads a resource's statistics through the engine's public view.
func (f *fixture) stats(resource string) engine.ResourceStats {
	rv, _ := f.e.Resource(resource)
	return rv.Stats()
}

func TestSentinelExampleResources(t *testing.T) {
	f := newFixture(t, []gateway.Rule{
		gwRule("product_route", gateway.ResourceModeRouteID, 100, nil),
		gwRule("httpbin_route", gateway.ResourceModeRouteID, 100, nil),
		gwRule("some_customized_api", gateway.ResourceModeCustomAPIName, 100, nil),
	}, nil)

	if rec := f.do("/product/foo/22"); rec.Code != http.StatusOK {
		t.Fatalf("/product/foo/22: status %d", rec.Code)
	}
	want := map[string]float64{"product_route": 1, "some_customized_api": 1, "httpbin_route": 0, "another_customized_api": 0}
	for res, q := range want {
		if got := f.passQPS(res); got != q {
			t.Errorf("after /product/foo/22: %s passQPS = %v, want %v", res, got, q)
		}
	}
	if rec := f.do("/httpbin/json"); rec.Code != http.StatusOK {
		t.Fatalf("/httpbin/json: status %d", rec.Code)
	}
	want = map[string]float64{"product_route": 1, "some_customized_api": 1, "httpbin_route": 1}
	for res, q := range want {
		if got := f.passQPS(res); got != q {
			t.Errorf("after /httpbin/json: %s passQPS = %v, want %v", res, got, q)
		}
	}
	// Entries are exited when the handler returns.
	for _, res := range []string{"product_route", "some_customized_api", "httpbin_route"} {
		if th := f.stats(res).Concurrency; th != 0 {
			t.Errorf("%s has %d calls in flight after the requests", res, th)
		}
	}
}

func TestAPIGroupLimit(t *testing.T) {
	f := newFixture(t, []gateway.Rule{
		gwRule("some_customized_api", gateway.ResourceModeCustomAPIName, 1, nil),
	}, nil)
	if rec := f.do("/product/foo/1"); rec.Code != http.StatusOK {
		t.Fatalf("first call: %d", rec.Code)
	}
	rec := f.do("/product/baz")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("second call to the API group: %d, want 429", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var body struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		Resource string `json:"resource"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if body.Code != 429 || body.Message != "blocked by rulesync" || body.Resource != "some_customized_api" {
		t.Errorf("body %+v", body)
	}
	// The route passed before the API group blocked: its entry was exited.
	if th := f.stats("product_route").Concurrency; th != 0 {
		t.Errorf("product_route has %d calls in flight after a block", th)
	}
	// Paths outside the group are not limited by it.
	for range 3 {
		if rec := f.do("/product/bar"); rec.Code != http.StatusOK {
			t.Errorf("/product/bar: %d", rec.Code)
		}
	}
	f.clock.Advance(1001 * time.Millisecond)
	if rec := f.do("/product/foo/2"); rec.Code != http.StatusOK {
		t.Errorf("next second: %d", rec.Code)
	}
}

func TestPerIPLimit(t *testing.T) {
	f := newFixture(t, []gateway.Rule{
		gwRule("product_route", gateway.ResourceModeRouteID, 2, &gateway.ParamItem{
			ParseStrategy: gateway.ParseClientIP, Pattern: `10\..*`, MatchStrategy: gateway.ParamMatchRegex,
		}),
	}, nil)
	from := func(addr string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = addr } }
	codes := func(addr string, n int) (ok int) {
		for range n {
			if f.do("/product/x", from(addr)).Code == http.StatusOK {
				ok++
			}
		}
		return ok
	}
	if got := codes("10.1.1.1:1234", 4); got != 2 {
		t.Errorf("10.1.1.1: %d of 4 passed, want 2", got)
	}
	if got := codes("10.1.1.2:1234", 4); got != 2 {
		t.Errorf("10.1.1.2: %d of 4 passed, want 2 (its own count)", got)
	}
	if got := codes("192.0.2.1:1234", 20); got != 20 {
		t.Errorf("non-matching IP: %d of 20 passed, want all", got)
	}
}

func TestHeaderURLParamCookieLimits(t *testing.T) {
	f := newFixture(t, []gateway.Rule{
		gwRule("product_route", gateway.ResourceModeRouteID, 1, &gateway.ParamItem{ParseStrategy: gateway.ParseHeader, FieldName: "X-User"}),
		gwRule("httpbin_route", gateway.ResourceModeRouteID, 1, &gateway.ParamItem{ParseStrategy: gateway.ParseURLParam, FieldName: "uid"}),
		gwRule("some_customized_api", gateway.ResourceModeCustomAPIName, 1, &gateway.ParamItem{ParseStrategy: gateway.ParseCookie, FieldName: "sid"}),
	}, nil)
	hdr := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("X-User", v) } }
	cookie := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "sid", Value: v}) }
	}
	steps := []struct {
		name string
		path string
		mod  func(*http.Request)
		want int
	}{
		{"header a", "/product/x", hdr("a"), 200},
		{"header a again", "/product/x", hdr("a"), 429},
		{"header b", "/product/x", hdr("b"), 200},
		{"no header", "/product/x", func(*http.Request) {}, 200},
		{"no header again", "/product/x", func(*http.Request) {}, 200},
		{"uid 1", "/httpbin/get?uid=1", nil, 200},
		{"uid 1 again", "/httpbin/get?x=2&uid=1", nil, 429},
		{"uid escaped", "/httpbin/get?u%69d=%31", nil, 429},
		{"uid 2", "/httpbin/get?uid=2", nil, 200},
		{"cookie s1", "/product/foo/1", cookie("s1"), 200},
		{"cookie s1 again", "/product/baz", cookie("s1"), 429},
		{"cookie s2", "/product/baz", cookie("s2"), 200},
	}
	for _, s := range steps {
		var mods []func(*http.Request)
		if s.mod != nil {
			mods = append(mods, s.mod)
		}
		if strings.HasPrefix(s.name, "cookie") {
			// A fresh X-User each time, so that product_route's own rule passes.
			mods = append(mods, hdr(s.name))
		}
		if got := f.do(s.path, mods...).Code; got != s.want {
			t.Errorf("%s: status %d, want %d", s.name, got, s.want)
		}
	}
}

func TestCustomBlockHandler(t *testing.T) {
	var got *engine.BlockError
	f := newFixture(t, []gateway.Rule{gwRule("httpbin_route", gateway.ResourceModeRouteID, 0, nil)}, nil,
		httpgw.WithBlockHandler(func(w http.ResponseWriter, r *http.Request, be *engine.BlockError) {
			got = be
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("busy"))
		}))
	rec := f.do("/httpbin/json")
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "busy" {
		t.Errorf("answer %d %q", rec.Code, rec.Body.String())
	}
	if got == nil || got.Resource != "httpbin_route" || !errors.Is(got, engine.ErrBlocked) {
		t.Fatalf("block handler got %+v", got)
	}
	if r, ok := got.Rule.(gateway.Rule); !ok || r.Resource != "httpbin_route" {
		t.Errorf("block error rule %#v", got.Rule)
	}
}

func TestNoResourceNoEntry(t *testing.T) {
	called := false
	f := newFixture(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		if _, ok := w.(*httptest.ResponseRecorder); !ok {
			t.Errorf("writer was wrapped for a request without resources: %T", w)
		}
	}))
	f.do("/elsewhere")
	if !called {
		t.Fatal("handler not called")
	}
	if _, ok := f.e.Resource(""); ok {
		t.Error("an entry was made for a request without route or API")
	}
}

func TestErrorsRecorded(t *testing.T) {
	status := http.StatusInternalServerError
	f := newFixture(t, []gateway.Rule{gwRule("product_route", 0, 100, nil)},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/product/panic" {
				panic("boom")
			}
			w.WriteHeader(status)
		}))
	errQPS := func() float64 { return f.stats("product_route").ErrorQPS }
	f.do("/product/ok")
	if got := errQPS(); got != 1 {
		t.Errorf("after a 500: errorQPS %v, want 1", got)
	}
	status = http.StatusNotFound
	f.do("/product/ok")
	if got := errQPS(); got != 1 {
		t.Errorf("after a 404: errorQPS %v, want still 1", got)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		f.do("/product/panic")
	}()
	if got := errQPS(); got != 2 {
		t.Errorf("after a panic: errorQPS %v, want 2", got)
	}
	if th := f.stats("product_route").Concurrency; th != 0 {
		t.Errorf("%d calls in flight after a panic", th)
	}
}

func TestClientIP(t *testing.T) {
	mustPrefix := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	tests := []struct {
		name   string
		opts   []httpgw.Option
		remote string
		xff    []string
		want   string
	}{
		{"peer only", nil, "198.51.100.7:5555", []string{"1.2.3.4"}, "198.51.100.7"},
		{"peer ipv6", nil, "[2001:db8::1]:5555", nil, "2001:db8::1"},
		{"header, peer trusted implicitly: right-most", []httpgw.Option{httpgw.WithTrustedProxyHeader("x-forwarded-for")},
			"10.0.0.1:1", []string{"6.6.6.6, 1.2.3.4"}, "1.2.3.4"},
		{"trusted proxies skipped", []httpgw.Option{httpgw.WithTrustedProxyHeader("X-Forwarded-For", mustPrefix("10.0.0.0/8"))},
			"10.0.0.1:1", []string{"6.6.6.6, 1.2.3.4, 10.0.0.2"}, "1.2.3.4"},
		{"several header lines", []httpgw.Option{httpgw.WithTrustedProxyHeader("X-Forwarded-For", mustPrefix("10.0.0.0/8"))},
			"10.0.0.1:1", []string{"6.6.6.6", "1.2.3.4", "10.0.0.3"}, "1.2.3.4"},
		{"untrusted peer: header ignored", []httpgw.Option{httpgw.WithTrustedProxyHeader("X-Forwarded-For", mustPrefix("10.0.0.0/8"))},
			"192.0.2.5:1", []string{"1.2.3.4"}, "192.0.2.5"},
		{"all trusted: left-most", []httpgw.Option{httpgw.WithTrustedProxyHeader("X-Forwarded-For", mustPrefix("10.0.0.0/8"))},
			"10.0.0.1:1", []string{"10.0.0.9, 10.0.0.8"}, "10.0.0.9"},
		{"garbage: peer", []httpgw.Option{httpgw.WithTrustedProxyHeader("X-Forwarded-For")},
			"10.0.0.1:1", []string{"1.2.3.4, not-an-ip"}, "10.0.0.1"},
		{"no header: peer", []httpgw.Option{httpgw.WithTrustedProxyHeader("X-Real-IP")},
			"10.0.0.1:1", nil, "10.0.0.1"},
		{"address with port", []httpgw.Option{httpgw.WithTrustedProxyHeader("X-Forwarded-For")},
			"10.0.0.1:1", []string{"[2001:db8::2]:443"}, "2001:db8::2"},
	}
	e := engine.New()
	t.Cleanup(func() { _ = e.Close() })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := httpgw.NewMiddleware(e, tt.opts...)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := m.ClientIP(r); got != tt.want {
				t.Errorf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRequestInfo(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://shop.example:8080/p?a=1&b=x%20y&c=&a=2&d=p+q&bad=%zz", nil)
	r.Header.Set("X-Tenant", "t1")
	r.AddCookie(&http.Cookie{Name: "sid", Value: "abc"})
	ri := httpgw.NewRequestInfo(r, "192.0.2.1")
	checks := []struct{ name, got, want string }{
		{"ClientIP", ri.ClientIP(), "192.0.2.1"},
		{"Host", ri.Host(), "shop.example:8080"},
		{"Header", ri.Header("x-tenant"), "t1"},
		{"Header missing", ri.Header("X-None"), ""},
		{"Query first", ri.Query("a"), "1"},
		{"Query escaped", ri.Query("b"), "x y"},
		{"Query plus", ri.Query("d"), "p q"},
		{"Query empty", ri.Query("c"), ""},
		{"Query bad escape", ri.Query("bad"), ""},
		{"Query missing", ri.Query("z"), ""},
		{"Cookie", ri.Cookie("sid"), "abc"},
		{"Cookie missing", ri.Cookie("none"), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestThreadGradeReleasedAfterHandler(t *testing.T) {
	inside, release := make(chan struct{}), make(chan struct{})
	r := gwRule("product_route", gateway.ResourceModeRouteID, 1, nil)
	r.Grade = 0 // concurrency
	f := newFixture(t, []gateway.Rule{r}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			inside <- struct{}{}
			<-release
		}
	}))
	done := make(chan int)
	go func() { done <- f.do("/product/a?hold=1").Code }()
	<-inside
	if code := f.do("/product/b").Code; code != http.StatusTooManyRequests {
		t.Errorf("second concurrent call: %d, want 429", code)
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Errorf("held call: %d", code)
	}
	for i := range 3 {
		if code := f.do("/product/c").Code; code != http.StatusOK {
			t.Errorf("call %d after the held one finished: %d, want 200", i, code)
		}
	}
}

func TestConcurrentReload(t *testing.T) {
	f := newFixture(t, nil, nil)
	gw := f.e.Gateway()
	stop := make(chan struct{})
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			gw.Load([]gateway.Rule{
				gwRule("product_route", 0, float64(1+i%3), &gateway.ParamItem{ParseStrategy: gateway.ParseHeader, FieldName: "X-U"}),
				gwRule("some_customized_api", 1, 1e6, nil),
			})
			if i%2 == 0 {
				gw.LoadAPIs(exampleAPIs())
			} else {
				gw.LoadAPIs(nil)
			}
		}
	}()
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				code := f.do("/product/foo/1", func(r *http.Request) { r.Header.Set("X-U", string(rune('a'+(g+i)%5))) }).Code
				if code != http.StatusOK && code != http.StatusTooManyRequests {
					t.Errorf("status %d", code)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	close(stop)
	<-reloaded
	for _, res := range []string{"product_route", "some_customized_api"} {
		if th := f.stats(res).Concurrency; th != 0 {
			t.Errorf("%s: %d calls in flight after all requests ended", res, th)
		}
	}
}

func TestStatusWriterPassesThrough(t *testing.T) {
	f := newFixture(t, []gateway.Rule{gwRule("product_route", 0, 100, nil)},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := w.(http.Flusher); !ok {
				t.Error("wrapped writer is not a Flusher")
			}
			if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
				t.Errorf("ResponseController through the wrapper: %v", err)
			}
			rf, ok := w.(interface {
				ReadFrom(r io.Reader) (int64, error)
			})
			if !ok {
				t.Fatal("wrapped writer lost ReadFrom")
			}
			if _, err := rf.ReadFrom(strings.NewReader("streamed")); err != nil {
				t.Error(err)
			}
			w.(http.Flusher).Flush()
		}))
	rec := f.do("/product/x")
	if rec.Code != http.StatusOK || rec.Body.String() != "streamed" || !rec.Flushed {
		t.Errorf("answer %d %q flushed=%v", rec.Code, rec.Body.String(), rec.Flushed)
	}
}

// TestBlockErrorKeepsValue checks that the value a block names is the plain
// string, which stays right after the request's pooled state has served other
// requests (the arguments themselves refer into that state).
func TestBlockErrorKeepsValue(t *testing.T) {
	var got []*engine.BlockError
	item := &gateway.ParamItem{ParseStrategy: gateway.ParseHeader, FieldName: "X-User"}
	f := newFixture(t, []gateway.Rule{gwRule("product_route", gateway.ResourceModeRouteID, 1, item)}, nil,
		httpgw.WithBlockHandler(func(w http.ResponseWriter, _ *http.Request, be *engine.BlockError) {
			got = append(got, be)
			w.WriteHeader(http.StatusTooManyRequests)
		}))
	user := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("X-User", v) } }
	for _, u := range []string{"alice", "alice", "bob", "bob", "carol"} {
		f.do("/product/1", user(u))
	}
	// One pass per user per second: the second alice and the second bob block.
	if len(got) != 2 {
		t.Fatalf("%d blocks, want 2", len(got))
	}
	for i, want := range []string{"alice", "bob"} {
		if v, ok := got[i].Value.(string); !ok || v != want {
			t.Errorf("block %d: Value %#v, want the string %q", i, got[i].Value, want)
		}
	}
}

// TestCallerReachesRules checks that the origin (from WithOrigin, else from
// the request's context) and the entrance (from the request's context) reach
// the authority and chain flow rules of every entry of a request.
func TestCallerReachesRules(t *testing.T) {
	f := newFixture(t, nil, nil, httpgw.WithOrigin(func(r *http.Request) string { return r.Header.Get("X-App") }))
	if rep := f.e.Authority().Load([]authority.Rule{{Resource: "some_customized_api", LimitApp: "bad-app", Strategy: authority.StrategyBlack}}); rep.Loaded != 1 {
		t.Fatalf("authority Load: %+v", rep)
	}
	chain := flow.DefaultRule()
	chain.Resource, chain.Count, chain.Strategy, chain.RefResource = "product_route", 0, flow.StrategyChain, "edge"
	if rep := f.e.Flow().Load([]flow.Rule{chain}); rep.Loaded != 1 {
		t.Fatalf("flow Load: %+v", rep)
	}
	withCtx := func(fn func(context.Context) context.Context) func(*http.Request) {
		return func(r *http.Request) { *r = *r.WithContext(fn(r.Context())) }
	}
	header := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("X-App", v) } }
	upstreamOrigin := withCtx(func(ctx context.Context) context.Context { return engine.WithOrigin(ctx, "bad-app") })
	upstreamEntrance := withCtx(func(ctx context.Context) context.Context { return engine.WithEntrance(ctx, "edge") })

	for _, tc := range []struct {
		name string
		path string
		mod  []func(*http.Request)
		want int
	}{
		{"origin from the option, black-listed", "/product/foo/1", []func(*http.Request){header("bad-app")}, http.StatusTooManyRequests},
		{"origin from the option, allowed", "/product/foo/1", []func(*http.Request){header("good-app")}, http.StatusOK},
		{"origin from the context", "/product/foo/1", []func(*http.Request){upstreamOrigin}, http.StatusTooManyRequests},
		{"the option overrides the context", "/product/foo/1", []func(*http.Request){upstreamOrigin, header("good-app")}, http.StatusOK},
		{"black list on another resource", "/product/bar", []func(*http.Request){header("bad-app")}, http.StatusOK},
		{"entrance from the context", "/product/bar", []func(*http.Request){upstreamEntrance}, http.StatusTooManyRequests},
		{"no entrance", "/product/bar", nil, http.StatusOK},
	} {
		if got := f.do(tc.path, tc.mod...).Code; got != tc.want {
			t.Errorf("%s: GET %s = %d, want %d", tc.name, tc.path, got, tc.want)
		}
	}
}
