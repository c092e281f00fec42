package httpadapter_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	httpadapter "github.com/rulesync/rulesync/adapters/http"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/authority"
	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/degrade"
	"github.com/rulesync/rulesync/engine/flow"
)

func qps(res string, count float64) flow.Rule {
	r := flow.DefaultRule()
	r.Resource, r.Count = res, count
	return r
}

func load(t *testing.T, rep engine.LoadReport) {
	t.Helper()
	if len(rep.Rejected) > 0 {
		t.Fatalf("rules rejected: %v", rep.Rejected)
	}
}

// get sends one request to the loopback server and returns the status and
// the Retry-After header.
func get(t *testing.T, srv *httptest.Server, path string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

// TestPatternBlocksNthCall: handlers registered through the middleware are
// checked under their mux pattern, over a real loopback server; the fourth
// call of a rule with count 3 gets 429, whatever the path value.
func TestPatternBlocksNthCall(t *testing.T) {
	e := engine.New()
	defer e.Close()
	load(t, e.Flow().Load([]flow.Rule{qps("GET /orders/{id}", 3)}))
	m := httpadapter.NewMiddleware(e)
	mux := http.NewServeMux()
	m.HandleFunc(mux, "GET /orders/{id}", ok)
	m.HandleFunc(mux, "GET /health", ok)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var codes []int
	for _, id := range []string{"1", "2", "3", "4"} {
		code, _ := get(t, srv, "/orders/"+id)
		codes = append(codes, code)
	}
	if want := []int{200, 200, 200, 429}; !equal(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	if code, _ := get(t, srv, "/health"); code != 200 {
		t.Fatalf("another pattern: %d", code)
	}
}

// TestWrapMux: a middleware wrapping the mux itself names requests after the
// mux's patterns (WithMux), or the URL path without it.
func TestWrapMux(t *testing.T) {
	e := engine.New()
	defer e.Close()
	load(t, e.Flow().Load([]flow.Rule{qps("GET /items/{id}", 1), qps("/raw/a", 1)}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "" {
			t.Error("the mux did not set the path value")
		}
	})
	mux.HandleFunc("/raw/", ok)
	withMux := httptest.NewServer(httpadapter.New(e, httpadapter.WithMux(mux))(mux))
	defer withMux.Close()
	if a, _ := get(t, withMux, "/items/1"); a != 200 {
		t.Fatalf("first: %d", a)
	}
	if b, _ := get(t, withMux, "/items/2"); b != 429 {
		t.Fatalf("second item under the same pattern: %d, want 429", b)
	}
	plain := httptest.NewServer(httpadapter.New(e)(mux))
	defer plain.Close()
	if a, _ := get(t, plain, "/raw/a"); a != 200 {
		t.Fatal(a)
	}
	if b, _ := get(t, plain, "/raw/a"); b != 429 {
		t.Fatalf("the path as resource: %d, want 429", b)
	}
	if c, _ := get(t, plain, "/raw/b"); c != 200 {
		t.Fatalf("another path: %d", c)
	}
}

// TestRetryAfter: a rate limiter whose queue is full knows the wait, and the
// answer says it; a plain QPS limit does not.
func TestRetryAfter(t *testing.T) {
	e := engine.New()
	defer e.Close()
	paced := qps("GET /paced", 0.5) // one call per 2 s
	paced.ControlBehavior = base.BehaviorRateLimiter
	load(t, e.Flow().Load([]flow.Rule{paced, qps("GET /plain", 1)}))
	m := httpadapter.NewMiddleware(e)
	mux := http.NewServeMux()
	m.HandleFunc(mux, "GET /paced", ok)
	m.HandleFunc(mux, "GET /plain", ok)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get(t, srv, "/paced")
	code, ra := get(t, srv, "/paced")
	if code != 429 || ra != "2" {
		t.Fatalf("paced: %d, Retry-After %q; want 429, 2", code, ra)
	}
	get(t, srv, "/plain")
	if code, ra := get(t, srv, "/plain"); code != 429 || ra != "" {
		t.Fatalf("plain: %d, Retry-After %q; want 429 without it", code, ra)
	}
}

// TestErrorsOpenBreaker: 5xx answers are recorded as errors, and an
// error-count rule opens its breaker; the fallback answers then.
func TestErrorsOpenBreaker(t *testing.T) {
	e := engine.New()
	defer e.Close()
	load(t, e.Degrade().Load([]degrade.Rule{{Resource: "GET /flaky", Grade: degrade.GradeExceptionCount, Count: 1, TimeWindow: 10, MinRequestAmount: 1, StatIntervalMs: 10000}}))
	var blockedBy engine.Family
	m := httpadapter.NewMiddleware(e, httpadapter.WithBlockHandler(func(w http.ResponseWriter, _ *http.Request, be *engine.BlockError) {
		blockedBy = be.Family
		http.Error(w, "try later", http.StatusServiceUnavailable)
	}))
	mux := http.NewServeMux()
	m.HandleFunc(mux, "GET /flaky", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var codes []int
	for range 3 {
		code, _ := get(t, srv, "/flaky")
		codes = append(codes, code)
	}
	if want := []int{500, 500, 503}; !equal(codes, want) || blockedBy != engine.FamilyDegrade {
		t.Fatalf("codes %v (blocked by %q), want %v by degrade", codes, blockedBy, want)
	}
}

// TestPanicIsRecorded: a panicking handler counts as an error, and the
// panic goes on.
func TestPanicIsRecorded(t *testing.T) {
	e := engine.New()
	defer e.Close()
	load(t, e.Degrade().Load([]degrade.Rule{{Resource: "/p", Grade: degrade.GradeExceptionCount, Count: 0, TimeWindow: 10, MinRequestAmount: 1, StatIntervalMs: 10000}}))
	h := httpadapter.New(e)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("handler bug") }))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/p", nil))
	}()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/p", nil))
	if rec.Code != 429 || !strings.Contains(rec.Body.String(), "degrade rule on /p") {
		t.Fatalf("after the panic: %d %q", rec.Code, rec.Body)
	}
}

// TestOriginReachesAuthority: WithOrigin names the caller, and an authority
// black list refuses it.
func TestOriginReachesAuthority(t *testing.T) {
	e := engine.New()
	defer e.Close()
	load(t, e.Authority().Load([]authority.Rule{{Resource: "GET /admin", LimitApp: "intruder", Strategy: authority.StrategyBlack}}))
	m := httpadapter.NewMiddleware(e, httpadapter.WithOrigin(func(r *http.Request) string { return r.Header.Get("X-Caller") }))
	mux := http.NewServeMux()
	m.HandleFunc(mux, "GET /admin", ok)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if code, _ := get(t, srv, "/admin", "X-Caller", "billing"); code != 200 {
		t.Fatalf("billing: %d", code)
	}
	if code, _ := get(t, srv, "/admin", "X-Caller", "intruder"); code != 429 {
		t.Fatalf("intruder: %d, want 429", code)
	}
}

// TestEmptyResourceSkips: WithResource returning "" lets a request through
// unchecked.
func TestEmptyResourceSkips(t *testing.T) {
	e := engine.New()
	defer e.Close()
	load(t, e.Flow().Load([]flow.Rule{qps("/x", 0)}))
	h := httpadapter.New(e, httpadapter.WithResource(func(r *http.Request) string {
		if r.Header.Get("X-Internal") != "" {
			return ""
		}
		return r.URL.Path
	}))(http.HandlerFunc(ok))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != 429 {
		t.Fatalf("checked request: %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("X-Internal", "1")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("unchecked request: %d", rec.Code)
	}
}

func TestRetryAfterRounding(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want int64
	}{{0, 0}, {-5, 0}, {1, 1}, {1000, 1}, {1001, 2}} {
		if got := httpadapter.RetryAfter(&engine.BlockError{WaitMs: tc.ms}); got != tc.want {
			t.Errorf("RetryAfter(%d ms) = %d, want %d", tc.ms, got, tc.want)
		}
	}
	if httpadapter.RetryAfter(nil) != 0 || !errors.Is(httpadapter.ErrPanic, httpadapter.ErrPanic) {
		t.Fatal("nil block")
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
