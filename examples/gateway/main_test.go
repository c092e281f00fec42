package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/engine"
)

type demo struct {
	g     *gatewayServer
	clock *engine.ManualClock
	dir   string
}

func startDemo(t *testing.T) *demo {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"gateway-rules.json", "api-definitions.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	product := httptest.NewServer(productService())
	t.Cleanup(product.Close)
	httpbin := httptest.NewServer(httpbinService())
	t.Cleanup(httpbin.Close)
	pu, _ := url.Parse(product.URL)
	hu, _ := url.Parse(httpbin.URL)
	clock := engine.NewManualClock(1_000_000)
	g, err := newGateway(context.Background(), config{
		rulesPath: filepath.Join(dir, "gateway-rules.json"), apisPath: filepath.Join(dir, "api-definitions.json"),
		productURL: pu, httpbinURL: hu, trustForwarded: true,
		logger: slog.New(slog.DiscardHandler), clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return &demo{g: g, clock: clock, dir: dir}
}

func (d *demo) get(t *testing.T, path string, headers ...string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	d.g.handler.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(body)
}

func TestDemoRules(t *testing.T) {
	d := startDemo(t)
	// product_route: 2 per second per client IP.
	for i, want := range []int{200, 200, 429} {
		if code, body := d.get(t, "/product/x", "X-Forwarded-For", "1.1.1.1"); code != want {
			t.Errorf("1.1.1.1 call %d: %d %s, want %d", i, code, body, want)
		}
	}
	if code, _ := d.get(t, "/product/x", "X-Forwarded-For", "2.2.2.2"); code != 200 {
		t.Errorf("another IP: %d, want 200", code)
	}
	// httpbin_route: 3 per 10 s per X-User; the prefix is cut upstream.
	for i, want := range []int{200, 200, 200, 429} {
		if code, body := d.get(t, "/httpbin/headers", "X-User", "alice"); code != want {
			t.Errorf("alice call %d: %d %s, want %d", i, code, body, want)
		}
	}
	if code, body := d.get(t, "/httpbin/json", "X-User", "bob"); code != 200 || body == "" {
		t.Errorf("bob: %d %q", code, body)
	}
	d.clock.Advance(5 * time.Second)
	if code, _ := d.get(t, "/httpbin/headers", "X-User", "alice"); code != 429 {
		t.Errorf("alice 5 s later: %d, want 429 (10 s interval)", code)
	}
	d.clock.Advance(6 * time.Second)
	if code, _ := d.get(t, "/httpbin/headers", "X-User", "alice"); code != 200 {
		t.Errorf("alice 11 s later: %d, want 200", code)
	}
	// some_customized_api: 5 per minute (dashboard interval 1 + unit minute),
	// counted across client IPs.
	ip := 0
	call := func() int {
		ip++
		code, _ := d.get(t, "/product/foo/1", "X-Forwarded-For", "9.9.9."+strconv.Itoa(ip))
		return code
	}
	for i := range 5 {
		if code := call(); code != 200 {
			t.Fatalf("API group call %d: %d", i, code)
		}
	}
	code, body := d.get(t, "/product/baz", "X-Forwarded-For", "8.8.8.8")
	if code != 429 || !strings.Contains(body, `"resource":"some_customized_api"`) {
		t.Errorf("6th call to the API group: %d %s", code, body)
	}
}

// waitFor polls cond until it holds; the file watcher applies edits
// asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDemoLiveEdit(t *testing.T) {
	d := startDemo(t)
	// A new API group and a rule on it arrive in two separate file edits: the
	// rule first, matching nothing until the API exists.
	rules := `[{"resource":"ahas_api","resourceMode":1,"count":1,"intervalSec":1}]`
	if err := os.WriteFile(filepath.Join(d.dir, "gateway-rules.json"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new rules", func() bool {
		r := d.g.engine.Gateway().Rules()
		return len(r) == 1 && r[0].Resource == "ahas_api"
	})
	// The old per-IP limit is gone.
	for range 5 {
		if code, _ := d.get(t, "/product/x", "X-Forwarded-For", "1.1.1.1"); code != 200 {
			t.Fatalf("product_route still limited after its rule was removed: %d", code)
		}
	}
	for range 3 {
		if code, _ := d.get(t, "/ahas"); code != 404 {
			t.Fatalf("/ahas before its API exists: %d, want 404 from the proxy", code)
		}
	}
	apis := `[{"apiName":"ahas_api","predicateItems":[{"pattern":"/ahas","matchStrategy":0}]}]`
	if err := os.WriteFile(filepath.Join(d.dir, "api-definitions.json"), []byte(apis), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new API", func() bool {
		got := d.g.engine.Gateway().MatchingAPIs("/ahas", nil)
		return len(got) == 1 && got[0] == "ahas_api"
	})
	if code, _ := d.get(t, "/ahas"); code != 404 {
		t.Errorf("first /ahas: %d, want 404 (passed the gateway)", code)
	}
	if code, _ := d.get(t, "/ahas"); code != 429 {
		t.Errorf("second /ahas: %d, want 429", code)
	}
	if got := d.g.engine.Gateway().APIs(); len(got) != 1 || got[0].APIName != "ahas_api" {
		t.Errorf("APIs() = %+v", got)
	}
}
