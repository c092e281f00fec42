package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/internal/syncbuf"
	"github.com/rulesync/rulesync/sources/file"
	"github.com/rulesync/rulesync/startup"
	"github.com/rulesync/rulesync/startup/sections"
)

func init() { klog.SetLevel(klog.LevelFatal) }

// TestShippedStartupFile: the example's rulesync.yaml passes the checks
// that `rulesync check-config` makes.
func TestShippedStartupFile(t *testing.T) {
	secs := []startup.Option{startup.WithSection(sections.Dashboard()), startup.WithSection(sections.Cluster())}
	cfg, err := startup.Load("rulesync.yaml", datasource.Backends{file.Backend()}, secs...)
	if err != nil {
		t.Fatal(err)
	}
	// The commented dashboard and cluster sections are good too.
	data, err := os.ReadFile("rulesync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	head, tail, ok := strings.Cut(string(data), "# Uncomment to connect")
	if !ok {
		t.Fatal("rulesync.yaml lacks its commented sections")
	}
	_, tail, _ = strings.Cut(tail, "\n")
	var uncommented strings.Builder
	for _, line := range strings.SplitAfter(tail, "\n") {
		uncommented.WriteString(strings.TrimPrefix(line, "# "))
	}
	if _, err := startup.Parse("rulesync.yaml", []byte(head+uncommented.String()), datasource.Backends{file.Backend()}, secs...); err != nil {
		t.Fatalf("the commented sections: %v", err)
	}
	if cfg.App != "greeter" || len(cfg.DataSources) != 4 {
		t.Fatalf("config %s", cfg)
	}
	for _, d := range cfg.DataSources {
		p, _ := d.Param("file")
		if _, err := os.Stat(filepath.Join("..", "..", p)); err != nil && d.Name != "system" {
			t.Errorf("%s names %s, which the repository lacks: %v", d.Name, p, err)
		}
	}
}

// TestExample runs the server with the shipped rules (copied, so that the
// test can edit them) and the client against it over loopback: the third
// Hello in a second is blocked with status 429, an intruder is refused,
// Flaky's breaker opens after three failures, and an edit of the flow file
// raises the limit while the server runs.
func TestExample(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"greeter-flow-rules.json", "greeter-degrade-rules.json", "greeter-authority-rules.json"} {
		data, err := os.ReadFile(filepath.Join("rules", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shipped, err := os.ReadFile("rulesync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "rulesync.yaml")
	if err := os.WriteFile(cfgPath, bytes.ReplaceAll(shipped, []byte("examples/kitex/rules"), []byte(dir)), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncbuf.Buffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runServer(ctx, slog.New(slog.NewTextHandler(logs, nil)), "127.0.0.1:0", cfgPath, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("server: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}()

	calls := func(caller, method, name string, n int) []string {
		t.Helper()
		var out bytes.Buffer
		if err := runClient(context.Background(), &out, addr, caller, method, name, n); err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(out.String()), "\n")
	}
	want := func(lines []string, prefixes ...string) {
		t.Helper()
		if len(lines) != len(prefixes) {
			t.Fatalf("answers %q, want %d", lines, len(prefixes))
		}
		for i, p := range prefixes {
			if !strings.HasPrefix(lines[i], p) {
				t.Fatalf("answer %d: %q, want %q...\nall: %q", i+1, lines[i], p, lines)
			}
		}
	}

	// The flow rule allows 2 Hellos per second. Waiting for the start of a
	// second would be a timing assumption; a blocked third call is not: the
	// first two may straddle a second, so look for the block among four.
	got := calls("billing", "Hello", "ann", 4)
	blocked := 0
	for _, l := range got {
		if strings.Contains(l, "blocked (429)") && strings.Contains(l, "greeter:Hello: blocked by flow rule") {
			blocked++
		}
	}
	if blocked == 0 || !strings.HasPrefix(got[0], `1: ok {"message":"hello, ann"}`) {
		t.Fatalf("four Hellos: %q", got)
	}
	want(calls("intruder", "Hello", "eve", 1), `1: blocked (429) rulesync: greeter:Hello: blocked by authority rule`)
	want(calls("billing", "Flaky", "fail", 4),
		"1: error", "2: error", "3: error", "4: blocked (429) rulesync: greeter:Flaky: blocked by degrade rule")

	// Raise the limit: the edit reaches the server without a restart.
	if err := os.WriteFile(filepath.Join(dir, "greeter-flow-rules.json"), []byte(`[{"resource":"greeter:Hello","count":1000}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(logs.String(), `msg="rules applied" datasource=flow`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the edit was not applied:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, l := range calls("billing", "Hello", "ann", 5) {
		if !strings.Contains(l, "ok") {
			t.Fatalf("after raising the limit: %q", l)
		}
	}
}
