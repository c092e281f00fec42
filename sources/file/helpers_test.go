package file

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/internal/testcodec"
)

// nameCodec is the datasource tests' codec: a JSON list of resource names.
type nameCodec = testcodec.Names

// watchInto runs s.Watch in the background and returns the emitted snapshots.
func watchInto(t *testing.T, s *Source, from datasource.Snapshot) <-chan datasource.Snapshot {
	t.Helper()
	ch := make(chan datasource.Snapshot, 64)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		err := s.Watch(ctx, from, func(snap datasource.Snapshot) { ch <- snap })
		if ctx.Err() == nil {
			t.Errorf("Watch returned early: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return ch
}

// next waits for the next snapshot; the deadline only guards against hangs.
func next(t *testing.T, ch <-chan datasource.Snapshot) datasource.Snapshot {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot emitted")
	}
	panic("unreachable")
}

// until waits for a snapshot satisfying ok, skipping intermediate states a
// multi-step change may show.
func until(t *testing.T, ch <-chan datasource.Snapshot, what string, ok func(datasource.Snapshot) bool) datasource.Snapshot {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-ch:
			if ok(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("never saw %s", what)
		}
	}
}

func hasData(want string) func(datasource.Snapshot) bool {
	return func(s datasource.Snapshot) bool { return s.Exists && string(s.Data) == want }
}

// mustWrite replaces the file by rename, so that a watcher never reads a
// half-written file (an in-place write can be seen truncated; the tests that
// exercise it say so).
func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func newSource(t *testing.T, path string, opts ...Option) *Source {
	t.Helper()
	s, err := New(path, append([]Option{WithDebounce(2 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "rules.json")
}
