package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
)

type harness struct {
	t      *testing.T
	path   string
	clock  *engine.ManualClock
	srv    *server
	http   *httptest.Server
	mu     sync.Mutex
	events []datasource.Event
	logs   *bytes.Buffer
}

func newHarness(t *testing.T, rules string) *harness {
	t.Helper()
	return newHarnessAt(t, filepath.Join(t.TempDir(), "rules.json"), &rules)
}

// newHarnessAt starts the service on the rules file path, written first
// with *rules unless rules is nil (the file does not exist).
func newHarnessAt(t *testing.T, path string, rules *string) *harness {
	t.Helper()
	h := &harness{t: t, path: path, clock: engine.NewManualClock(10_000_000), logs: &bytes.Buffer{}}
	if rules != nil {
		if err := os.WriteFile(h.path, []byte(*rules), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: h.logs, mu: &h.mu}, nil))
	srv, err := newServer(context.Background(), config{rulesPath: h.path, logger: logger, clock: h.clock,
		observer: func(ev datasource.Event) { h.mu.Lock(); h.events = append(h.events, ev); h.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.http = httptest.NewServer(srv.routes())
	t.Cleanup(func() { h.http.Close(); srv.Close() })
	return h
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (h *harness) do(method, path, body string, hdr ...string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.http.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// passes counts how many of n calls to /hello pass in one fresh second.
func (h *harness) passes(n int, hdr ...string) int {
	h.t.Helper()
	h.clock.Advance(2 * time.Second)
	ok := 0
	for range n {
		switch code := h.do("GET", "/hello", "", hdr...).StatusCode; code {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
		default:
			h.t.Fatalf("unexpected status %d", code)
		}
	}
	return ok
}

func (h *harness) waitEvent(kind datasource.EventKind, after int) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, ev := range h.events[after:] {
			if ev.Kind == kind {
				h.mu.Unlock()
				return
			}
		}
		h.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("no %v event within 5s", kind)
}

func (h *harness) eventCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

func (h *harness) edit(body string) {
	h.t.Helper()
	if err := os.WriteFile(h.path, []byte(body), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func TestLiveEditChangesEnforcement(t *testing.T) {
	h := newHarness(t, `[{"resource":"GET:/hello","count":2}]`)
	if got := h.passes(5); got != 2 {
		t.Fatalf("with count 2: %d of 5 passed", got)
	}

	n := h.eventCount()
	h.edit(`[{"resource":"GET:/hello","count":4}]`)
	h.waitEvent(datasource.Updated, n)
	if got := h.passes(6); got != 4 {
		t.Fatalf("after the edit to count 4: %d of 6 passed", got)
	}

	// A broken edit keeps the previous limits and is logged with the reason.
	n = h.eventCount()
	h.edit(`[{"resource":"GET:/hello","count":1}`) // truncated JSON
	h.waitEvent(datasource.Unreadable, n)
	if got := h.passes(6); got != 4 {
		t.Fatalf("after a broken edit: %d of 6 passed, want the previous limit 4", got)
	}
	h.mu.Lock()
	logs := h.logs.String()
	h.mu.Unlock()
	if !strings.Contains(logs, "payload unreadable; the rules in force stay") {
		t.Fatalf("broken edit not logged:\n%s", logs)
	}

	// Deleting the file clears the rules: everything passes.
	n = h.eventCount()
	os.Remove(h.path)
	h.waitEvent(datasource.Deleted, n)
	if got := h.passes(10); got != 10 {
		t.Fatalf("after delete: %d of 10 passed", got)
	}
}

func TestAdminWriteIsCompareAndSet(t *testing.T) {
	h := newHarness(t, `[{"resource":"GET:/hello","count":1}]`)
	resp := h.do("GET", "/admin/rules", "")
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on GET /admin/rules")
	}

	if code := h.do("PUT", "/admin/rules", `[{"resource":"GET:/hello","count":3}]`).StatusCode; code != http.StatusPreconditionRequired {
		t.Fatalf("PUT without If-Match: %d", code)
	}
	if code := h.do("PUT", "/admin/rules", `[{"resource":"","count":3}]`, "If-Match", etag).StatusCode; code != http.StatusBadRequest {
		t.Fatalf("PUT of an invalid rule: %d", code)
	}

	// Someone edits the file behind our back: our ETag is now stale.
	n := h.eventCount()
	h.edit(`[{"resource":"GET:/hello","count":2}]`)
	h.waitEvent(datasource.Updated, n)
	if code := h.do("PUT", "/admin/rules", `[{"resource":"GET:/hello","count":3}]`, "If-Match", etag).StatusCode; code != http.StatusConflict {
		t.Fatalf("PUT with a stale revision: %d, want 409", code)
	}
	if got := h.passes(5); got != 2 {
		t.Fatalf("the other editor's rules must stay: %d of 5 passed", got)
	}

	fresh := h.do("GET", "/admin/rules", "").Header.Get("ETag")
	if code := h.do("PUT", "/admin/rules", `[{"resource":"GET:/hello","count":3}]`, "If-Match", fresh).StatusCode; code != http.StatusOK {
		t.Fatalf("PUT with the current revision: %d", code)
	}
	if got := h.passes(5); got != 3 {
		t.Fatalf("after the write: %d of 5 passed, want 3", got)
	}
	data, _ := os.ReadFile(h.path)
	if !strings.Contains(string(data), `"count": 3`) {
		t.Fatalf("file not written: %s", data)
	}
	if code := h.do("PUT", "/admin/rules", `[{"resource":"GET:/hello","count":7}]`, "If-Match", "*").StatusCode; code != http.StatusOK {
		t.Fatalf("PUT with If-Match *: %d", code)
	}
	if got := h.passes(10); got != 7 {
		t.Fatalf("after the overwrite: %d of 10 passed, want 7", got)
	}
}

func TestOriginSpecificRule(t *testing.T) {
	h := newHarness(t, `[{"resource":"GET:/hello","count":1,"limitApp":"batch-job"},{"resource":"GET:/hello","count":100}]`)
	if got := h.passes(3, "X-Caller", "batch-job"); got != 1 {
		t.Fatalf("batch-job: %d of 3 passed, want 1", got)
	}
	if got := h.passes(3, "X-Caller", "web"); got != 3 {
		t.Fatalf("web: %d of 3 passed, want 3", got)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	h := newHarness(t, `[{"resource":"GET:/hello","count":2}]`)
	if got := h.passes(3); got != 2 {
		t.Fatalf("with count 2: %d of 3 passed", got)
	}
	resp, err := http.Get(h.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`rulesync_resource_pass_per_second{engine="quickstart",resource="GET:/hello"} 2`,
		`rulesync_resource_block_per_second{engine="quickstart",resource="GET:/hello"} 1`,
		`rulesync_datasource_rules{datasource="` + h.path + `"} 1`,
		`rulesync_datasource_health{datasource="` + h.path + `",state="watching"} 1`,
		`rulesync_datasource_events_total{datasource="` + h.path + `",kind="loaded"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s\n%.3000s", want, body)
		}
	}
}
