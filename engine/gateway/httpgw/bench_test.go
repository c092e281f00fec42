package httpgw_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/gateway/httpgw"
)

// discardWriter is a ResponseWriter that costs next to nothing, so that the
// benchmarks measure the middleware rather than a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })

// benchSetup loads 3 routes, 10 API groups and 20 rules, all far from their
// limits, and returns the engine and a request that matches route "orders"
// and two API groups, each with rules reading the client IP, a header and a
// URL parameter.
func benchSetup(b *testing.B, opts ...engine.Option) (*engine.Engine, *http.Request) {
	b.Helper()
	e := engine.New(opts...)
	b.Cleanup(func() { _ = e.Close() })
	var apis []gateway.APIDefinition
	for i := range 10 {
		apis = append(apis, gateway.APIDefinition{APIName: fmt.Sprintf("api%d", i), PredicateItems: []gateway.PredicateItem{
			{Pattern: fmt.Sprintf("/v%d/**", i), MatchStrategy: gateway.URLMatchPrefix},
			{Pattern: fmt.Sprintf("/x/%d", i), MatchStrategy: gateway.URLMatchExact},
		}})
	}
	apis[1].PredicateItems = append(apis[1].PredicateItems, gateway.PredicateItem{Pattern: "/orders/*/items", MatchStrategy: gateway.URLMatchPrefix})
	apis[2].PredicateItems = append(apis[2].PredicateItems, gateway.PredicateItem{Pattern: "/orders/[0-9]+/items", MatchStrategy: gateway.URLMatchRegex})
	if rep := e.Gateway().LoadAPIs(apis); rep.Loaded != 10 {
		b.Fatalf("LoadAPIs: %+v", rep)
	}
	const high = 1e9
	items := []*gateway.ParamItem{
		nil,
		{ParseStrategy: gateway.ParseClientIP},
		{ParseStrategy: gateway.ParseHeader, FieldName: "X-User", Pattern: "u-", MatchStrategy: gateway.ParamMatchPrefix},
		{ParseStrategy: gateway.ParseURLParam, FieldName: "page"},
	}
	var rules []gateway.Rule
	resources := []struct {
		name string
		mode int
	}{{"orders", 0}, {"users", 0}, {"static", 0}, {"api1", 1}, {"api2", 1}, {"api3", 1}, {"api4", 1}}
	for i := range 20 {
		res := resources[i%len(resources)]
		r := gateway.DefaultRule()
		r.Resource, r.ResourceMode, r.Count = res.name, res.mode, high
		r.ParamItem = items[i%len(items)]
		rules = append(rules, r)
	}
	if rep := e.Gateway().Load(rules); rep.Loaded != 20 {
		b.Fatalf("Load: %+v", rep)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://shop.example/orders/42/items?page=3", nil)
	req.RemoteAddr = "192.0.2.10:5000"
	req.Header.Set("X-User", "u-7")
	return e, req
}

func benchRoute(r *http.Request) string {
	switch {
	case strings.HasPrefix(r.URL.Path, "/orders/"):
		return "orders"
	case strings.HasPrefix(r.URL.Path, "/users/"):
		return "users"
	case strings.HasPrefix(r.URL.Path, "/static/"):
		return "static"
	}
	return ""
}

func runHandler(b *testing.B, h http.Handler, req *http.Request) {
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuNanos()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
	// On a shared machine wall time per op mostly measures the other tenants;
	// the process's CPU time per op (which includes GC work) is steadier.
	if start >= 0 {
		b.ReportMetric(float64(cpuNanos()-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkBareHandler is the baseline: the handler alone.
func BenchmarkBareHandler(b *testing.B) {
	_, req := benchSetup(b)
	runHandler(b, okHandler, req)
}

// BenchmarkMiddlewarePass is one request through the middleware on the pass
// path: 3 entries (route "orders", API groups api1 and api2), each with its
// parsed gateway arguments.
func BenchmarkMiddlewarePass(b *testing.B) {
	e, req := benchSetup(b)
	h := httpgw.New(e, httpgw.WithRouteID(benchRoute))(okHandler)
	runHandler(b, h, req)
}

// BenchmarkMiddlewarePassCoarseClock is the pass path with the engine reading
// a cached clock (engine.WithCoarseClock), as Java Sentinel does by default.
func BenchmarkMiddlewarePassCoarseClock(b *testing.B) {
	e, req := benchSetup(b, engine.WithCoarseClock(time.Millisecond))
	h := httpgw.New(e, httpgw.WithRouteID(benchRoute))(okHandler)
	runHandler(b, h, req)
}

// BenchmarkMiddlewarePassServerContext is the pass path with a request
// context as deep as the one net/http's server gives a handler (two
// cancelable layers and two values), which the engine would walk once per
// entry if the middleware did not look the caller up once per request.
func BenchmarkMiddlewarePassServerContext(b *testing.B) {
	e, req := benchSetup(b)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	ctx = context.WithValue(ctx, http.ServerContextKey, (*http.Server)(nil))
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, nil)
	ctx, cancel2 := context.WithCancel(ctx)
	b.Cleanup(cancel2)
	h := httpgw.New(e, httpgw.WithRouteID(benchRoute))(okHandler)
	runHandler(b, h, req.WithContext(ctx))
}

// BenchmarkMiddlewareNoMatch is a request that matches no route and no API
// group: only the matching cost.
func BenchmarkMiddlewareNoMatch(b *testing.B) {
	e, _ := benchSetup(b)
	req, _ := http.NewRequest(http.MethodGet, "http://shop.example/health", nil)
	req.RemoteAddr = "192.0.2.10:5000"
	h := httpgw.New(e, httpgw.WithRouteID(benchRoute))(okHandler)
	runHandler(b, h, req)
}

// BenchmarkEngineEntries is the engine's share of BenchmarkMiddlewarePass:
// the same three Entry/Exit pairs with arguments parsed once up front, so
// that the difference between the two is the middleware's own cost (route and
// API matching, argument parsing, pooling, the status writer).
func BenchmarkEngineEntries(b *testing.B) {
	e, req := benchSetup(b)
	names := append([]string{benchRoute(req)}, e.Gateway().MatchingAPIs(req.URL.Path, nil)...)
	m := httpgw.NewMiddleware(e)
	info := httpgw.NewRequestInfo(req, m.ClientIP(req))
	args := make([][]any, len(names))
	for i, n := range names {
		args[i] = e.Gateway().ParseArgs(n, info)
	}
	entries := make([]*engine.Entry, len(names))
	ctx := req.Context()
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuNanos()
	for b.Loop() {
		for i, n := range names {
			en, err := e.Entry(ctx, n, engine.Inbound(), engine.WithArgs(args[i]...))
			if err != nil {
				b.Fatal(err)
			}
			entries[i] = en
		}
		for i := len(entries) - 1; i >= 0; i-- {
			entries[i].Exit()
		}
	}
	if start >= 0 {
		b.ReportMetric(float64(cpuNanos()-start)/float64(b.N), "cpu-ns/op")
	}
}
