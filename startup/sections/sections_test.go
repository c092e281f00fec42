package sections_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/sources/file"
	"github.com/rulesync/rulesync/startup"
	"github.com/rulesync/rulesync/startup/sections"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var backends = datasource.Backends{file.Backend()}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// open opens the startup file body (written to dir/name) on a new engine
// with the sections given, both with default options if none are.
func open(t *testing.T, dir, name, body string, secs ...startup.Section) *startup.Handle {
	t.Helper()
	path := filepath.Join(dir, name)
	write(t, path, body)
	e := engine.New()
	t.Cleanup(func() { e.Close() })
	if len(secs) == 0 {
		secs = []startup.Section{sections.Dashboard(), sections.Cluster()}
	}
	opts := []startup.Option{startup.WithLogger(quiet), startup.WithEnv(map[string]string{})}
	for _, s := range secs {
		opts = append(opts, startup.WithSection(s))
	}
	h, err := startup.OpenFile(context.Background(), e, path, backends, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// passes counts the entries of resource that n calls get through.
func passes(t *testing.T, e *engine.Engine, resource string, n int) int {
	t.Helper()
	got := 0
	for range n {
		en, err := e.Entry(context.Background(), resource)
		if err != nil {
			var be *engine.BlockError
			if !errors.As(err, &be) {
				t.Fatalf("entry: %v", err)
			}
			continue
		}
		en.Exit()
		got++
	}
	return got
}
