package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/internal/syncbuf"
)

// Neither file exists yet: the gateway starts with no limits, says so once
// per file, and applies each file when it appears, logging each event once.
func TestStartsWithoutRuleFilesAndPicksThemUp(t *testing.T) {
	dir := t.TempDir()
	product := httptest.NewServer(productService())
	t.Cleanup(product.Close)
	httpbin := httptest.NewServer(httpbinService())
	t.Cleanup(httpbin.Close)
	pu, _ := url.Parse(product.URL)
	hu, _ := url.Parse(httpbin.URL)
	logs := &syncbuf.Buffer{}
	g, err := newGateway(context.Background(), config{
		rulesPath: filepath.Join(dir, "gateway-rules.json"), apisPath: filepath.Join(dir, "api-definitions.json"),
		productURL: pu, httpbinURL: hu, trustForwarded: true,
		logger: slog.New(slog.NewTextHandler(logs, nil)), clock: engine.NewManualClock(1_000_000),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	d := &demo{g: g, dir: dir}
	if n := strings.Count(logs.String(), "no value at the source yet"); n != 2 {
		t.Errorf("want one line per missing file, got %d:\n%s", n, logs)
	}
	for range 3 {
		if code, _ := d.get(t, "/product/x", "X-Forwarded-For", "1.1.1.1"); code != 200 {
			t.Fatalf("without rules: %d", code)
		}
	}
	for _, name := range []string{"api-definitions.json", "gateway-rules.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the rules file", func() bool { return len(g.engine.Gateway().Rules()) == 4 })
	waitFor(t, "the API file", func() bool { return len(g.engine.Gateway().APIs()) == 2 })
	// One line per apply, from the datasource; the gateway adds none.
	if n := strings.Count(logs.String(), "applied"); n != 2 {
		t.Errorf("two files applied: %d lines say so, want 2:\n%s", n, logs)
	}
}
