package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
)

func TestWatchSeesEveryKindOfChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
		want   func(datasource.Snapshot) bool
	}{
		{"edit in place", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(`["in-place"]`)
			f.Close()
		}, hasData(`["in-place"]`)},
		{"rename over", func(t *testing.T, path string) {
			tmp := filepath.Join(filepath.Dir(path), "rules.json~")
			mustWrite(t, tmp, `["renamed"]`)
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, hasData(`["renamed"]`)},
		{"delete", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, func(s datasource.Snapshot) bool { return !s.Exists }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			mustWrite(t, path, `["start"]`)
			s := newSource(t, path)
			from, _ := s.Read(bg)
			ch := watchInto(t, s, from)
			tt.change(t, path)
			got := until(t, ch, tt.name, tt.want)
			if got.Exists && got.Revision != datasource.ContentRevision(got.Data) {
				t.Fatalf("revision %s does not match content", got.Revision)
			}
		})
	}
}

func TestWatchDeleteAndRecreate(t *testing.T) {
	path := tempPath(t)
	mustWrite(t, path, `["a"]`)
	s := newSource(t, path)
	from, _ := s.Read(bg)
	ch := watchInto(t, s, from)
	os.Remove(path)
	until(t, ch, "deletion", func(s datasource.Snapshot) bool { return !s.Exists })
	mustWrite(t, path, `["b"]`)
	until(t, ch, "re-creation", hasData(`["b"]`))
}

func TestWatchCatchesChangeBeforeWatchStarted(t *testing.T) {
	path := tempPath(t)
	mustWrite(t, path, `["a"]`)
	s := newSource(t, path)
	from, _ := s.Read(bg)
	mustWrite(t, path, `["b"]`) // changed after the Read, before Watch
	ch := watchInto(t, s, from)
	if got := next(t, ch); string(got.Data) != `["b"]` {
		t.Fatalf("first emit = %s", got.Data)
	}
}

func TestWatchIgnoresUnchangedContentAndOtherFiles(t *testing.T) {
	path := tempPath(t)
	mustWrite(t, path, `["a"]`)
	s := newSource(t, path)
	from, _ := s.Read(bg)
	ch := watchInto(t, s, from)
	mustWrite(t, path, `["a"]`)                                        // rewritten, same bytes
	mustWrite(t, filepath.Join(filepath.Dir(path), "other.json"), `x`) // a neighbour
	mustWrite(t, path, `["marker"]`)
	if got := next(t, ch); string(got.Data) != `["marker"]` {
		t.Fatalf("first emit = %s; unchanged content or another file caused an emit", got.Data)
	}
}

// TestWatchConfigMapSwap replays how the kubelet updates a mounted ConfigMap:
// the file is a symlink through "..data", which is atomically re-pointed at a
// new timestamped directory.
func TestWatchConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(name, content string) {
		os.Mkdir(filepath.Join(dir, name), 0o755)
		mustWrite(t, filepath.Join(dir, name, "rules.json"), content)
	}
	version("..2026_01", `["v1"]`)
	must(t, os.Symlink("..2026_01", filepath.Join(dir, "..data")))
	must(t, os.Symlink(filepath.Join("..data", "rules.json"), filepath.Join(dir, "rules.json")))

	s := newSource(t, filepath.Join(dir, "rules.json"))
	from, _ := s.Read(bg)
	if string(from.Data) != `["v1"]` {
		t.Fatalf("read through symlinks: %s", from.Data)
	}
	ch := watchInto(t, s, from)
	for i, v := range []string{"..2026_02", "..2026_03"} {
		content := fmt.Sprintf(`["v%d"]`, i+2)
		version(v, content)
		must(t, os.Symlink(v, filepath.Join(dir, "..data_tmp")))
		must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		until(t, ch, content, hasData(content))
	}
}

// TestWatchSymlinkTargetEditedElsewhere: a path symlinked to a file in another
// directory sees edits made to the target.
func TestWatchSymlinkTargetEditedElsewhere(t *testing.T) {
	real := filepath.Join(t.TempDir(), "rules.json")
	mustWrite(t, real, `["a"]`)
	link := filepath.Join(t.TempDir(), "rules.json")
	must(t, os.Symlink(real, link))
	s := newSource(t, link)
	from, _ := s.Read(bg)
	ch := watchInto(t, s, from)
	mustWrite(t, real, `["b"]`)
	until(t, ch, "target edit", hasData(`["b"]`))
}

func TestWatchEndsOnDirectoryRemovalAndClose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf")
	os.Mkdir(dir, 0o755)
	s := newSource(t, filepath.Join(dir, "rules.json"))
	done := make(chan error, 1)
	go func() { done <- s.Watch(bg, datasource.Snapshot{}, func(datasource.Snapshot) {}) }()
	time.Sleep(20 * time.Millisecond) // let the watch start; the test passes either way
	must(t, os.RemoveAll(dir))
	if err := wait(t, done); err == nil {
		t.Fatal("Watch returned nil after its directory went away")
	}

	os.Mkdir(dir, 0o755)
	go func() { done <- s.Watch(bg, datasource.Snapshot{}, func(datasource.Snapshot) {}) }()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	if err := wait(t, done); !errors.Is(err, datasource.ErrClosed) {
		t.Fatalf("Watch after Close = %v", err)
	}
}

func wait(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return")
	}
	return nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The sync loop over a real file: every payload state, with events.
func TestDataSourceOverFile(t *testing.T) {
	path := tempPath(t)
	s := newSource(t, path)
	events := make(chan datasource.Event, 64)
	d := datasource.New[[]string](s, nameCodec{}, datasource.WithObserver(datasource.ObserverFunc(func(e datasource.Event) {
		events <- e
	})), datasource.WithBackoff(time.Millisecond, 5*time.Millisecond))
	defer d.Close()
	if err := d.Start(bg); err != nil {
		t.Fatalf("Start on a missing file: %v", err)
	}
	if v, ok := d.Property().Get(); !ok || len(v) != 0 {
		t.Fatalf("missing file: %v %v", v, ok)
	}
	steps := []struct {
		name    string
		content string // "-" deletes
		kind    datasource.EventKind
		want    []string
	}{
		{"created", `["a","b"]`, datasource.Updated, []string{"a", "b"}},
		{"partly bad", `["a","","c"]`, datasource.Rejected, []string{"a", "c"}},
		{"unreadable", `{{`, datasource.Unreadable, []string{"a", "c"}},
		{"empty", ``, datasource.Updated, []string{}},
		{"valid", `["d"]`, datasource.Updated, []string{"d"}},
		{"deleted", "-", datasource.Deleted, []string{}},
		{"re-created", `["e"]`, datasource.Updated, []string{"e"}},
	}
	for _, st := range steps {
		if st.content == "-" {
			must(t, os.Remove(path))
		} else {
			mustWrite(t, path, st.content)
		}
		waitEvent(t, events, st.kind)
		if v, _ := d.Property().Get(); !slices.Equal(v, st.want) {
			t.Fatalf("%s: property = %v, want %v", st.name, v, st.want)
		}
	}
}

func waitEvent(t *testing.T, ch <-chan datasource.Event, k datasource.EventKind) datasource.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.Kind == k {
				return e
			}
		case <-deadline:
			t.Fatalf("no %v event", k)
		}
	}
}

func TestDataSourceWriteOverFile(t *testing.T) {
	path := tempPath(t)
	mustWrite(t, path, `["a"]`)
	// Polling once an hour: the datasource does not notice the edit below.
	d := datasource.New[[]string](newSource(t, path), nameCodec{}, datasource.WithPollInterval(time.Hour))
	defer d.Close()
	must(t, d.Start(bg))
	if err := d.Write(bg, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != `["a","b"]` {
		t.Fatalf("file holds %s", b)
	}
	mustWrite(t, path, `["theirs"]`)
	if err := d.Write(bg, []string{"mine"}); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("stale Write = %v, want ErrConflict", err)
	}
	if b, _ := os.ReadFile(path); string(b) != `["theirs"]` {
		t.Fatalf("stale write clobbered the file: %s", b)
	}
	// Update reads the file itself, so it builds on the other writer's edit.
	must(t, datasource.Update(bg, d, func(cur []string) ([]string, error) { return append(cur, "mine"), nil }))
	if b, _ := os.ReadFile(path); string(b) != `["theirs","mine"]` {
		t.Fatalf("after Update the file holds %s", b)
	}
	if v, _ := d.Property().Get(); !slices.Equal(v, []string{"theirs", "mine"}) {
		t.Fatalf("property after Update = %v", v)
	}
}

// Many writers in two Sources (as two processes would have) each append their
// id with Update; none may be lost.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	path := tempPath(t)
	const perSource = 12
	var all []*datasource.DataSource[[]string]
	for range 2 {
		d := datasource.New[[]string](newSource(t, path), nameCodec{}, datasource.WithMaxRetries(500))
		must(t, d.Start(bg))
		t.Cleanup(func() { d.Close() })
		all = append(all, d)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*perSource)
	for j, d := range all {
		for i := range perSource {
			id := fmt.Sprintf("w%d-%d", j, i)
			wg.Go(func() {
				errs <- datasource.Update(bg, d, func(cur []string) ([]string, error) {
					return append(cur, id), nil
				})
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	b, _ := os.ReadFile(path)
	got, _, err := nameCodec{}.Decode(b)
	if err != nil || len(got) != 2*perSource {
		t.Fatalf("file holds %s (%v)", b, err)
	}
	for j := range 2 {
		for i := range perSource {
			if id := fmt.Sprintf("w%d-%d", j, i); !slices.Contains(got, id) {
				t.Fatalf("lost %s: %v", id, got)
			}
		}
	}
}

func TestDataSourceCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		path := tempPath(t)
		mustWrite(t, path, `["a"]`)
		d := datasource.New[[]string](newSource(t, path), nameCodec{})
		must(t, d.Start(context.Background()))
		must(t, d.Close())
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(time.Millisecond)
	}
}

// A file that grows past the limit is refused with a clear error; the rules
// that were working stay, and the next acceptable content is applied.
func TestDataSourceOversizeFileKeepsRules(t *testing.T) {
	path := tempPath(t)
	mustWrite(t, path, `["a"]`)
	events := make(chan datasource.Event, 64)
	d := datasource.New[[]string](newSource(t, path, WithMaxSize(64)), nameCodec{},
		datasource.WithObserver(datasource.ObserverFunc(func(e datasource.Event) { events <- e })),
		datasource.WithBackoff(time.Millisecond, 5*time.Millisecond))
	defer d.Close()
	must(t, d.Start(bg))
	mustWrite(t, path, `["`+strings.Repeat("x", 100)+`"]`)
	e := waitEvent(t, events, datasource.SourceError)
	if !errors.Is(e.Err, datasource.ErrTooLarge) || !strings.Contains(e.Err.Error(), "104 bytes exceeds the limit of 64 bytes") {
		t.Fatalf("error = %v", e.Err)
	}
	if !errors.Is(d.Status().LastError, datasource.ErrTooLarge) {
		t.Fatalf("Status.LastError = %v", d.Status().LastError)
	}
	if v, _ := d.Property().Get(); !slices.Equal(v, []string{"a"}) {
		t.Fatalf("rules after oversize file = %v", v)
	}
	mustWrite(t, path, `["b"]`)
	waitEvent(t, events, datasource.Reconnected)
	if v, _ := d.Property().Get(); !slices.Equal(v, []string{"b"}) {
		t.Fatalf("rules after the file shrank = %v", v)
	}
}

// A path symlinked to a sibling file (rules.json -> rules-v2.json) sees the
// sibling edited.
func TestWatchSymlinkToSibling(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "rules-v2.json")
	mustWrite(t, real, `["a"]`)
	link := filepath.Join(dir, "rules.json")
	must(t, os.Symlink("rules-v2.json", link))
	s := newSource(t, link)
	from, _ := s.Read(bg)
	ch := watchInto(t, s, from)
	mustWrite(t, real, `["b"]`)
	until(t, ch, "sibling edit", hasData(`["b"]`))
}

// Disaster recovery with a real file: the last good rules come back from the
// snapshot directory when the file cannot be read at start.
func TestSnapshotDirWithFile(t *testing.T) {
	path, snaps := tempPath(t), t.TempDir()
	mustWrite(t, path, `["a","b"]`)
	d := datasource.New[[]string](newSource(t, path), nameCodec{}, datasource.WithName("flow"), datasource.WithSnapshotDir(snaps))
	must(t, d.Start(bg))
	must(t, d.Close())

	mustWrite(t, path, `["`+strings.Repeat("x", 200)+`"]`) // now over the limit below
	events := make(chan datasource.Event, 64)
	d2 := datasource.New[[]string](newSource(t, path, WithMaxSize(100)), nameCodec{},
		datasource.WithName("flow"), datasource.WithSnapshotDir(snaps),
		datasource.WithObserver(datasource.ObserverFunc(func(e datasource.Event) { events <- e })),
		datasource.WithBackoff(time.Millisecond, 5*time.Millisecond))
	defer d2.Close()
	must(t, d2.Start(bg))
	e := waitEvent(t, events, datasource.SnapshotUsed)
	if !errors.Is(e.Err, datasource.ErrTooLarge) {
		t.Fatalf("SnapshotUsed cause = %v", e.Err)
	}
	if v, _ := d2.Property().Get(); !slices.Equal(v, []string{"a", "b"}) || !d2.Status().UsingSnapshot {
		t.Fatalf("from snapshot: %v, %+v", v, d2.Status())
	}
	mustWrite(t, path, `["c"]`)
	waitEvent(t, events, datasource.Reconnected)
	if v, _ := d2.Property().Get(); !slices.Equal(v, []string{"c"}) || d2.Status().UsingSnapshot {
		t.Fatalf("after the file became readable: %v, %+v", v, d2.Status())
	}
}
