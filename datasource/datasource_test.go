package datasource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/internal/syncbuf"
)

func start(t *testing.T, f *fakeSource, opts ...Option) (*DataSource[[]string], *recorder) {
	t.Helper()
	rec := newRecorder()
	opts = append([]Option{WithName("test"), WithObserver(rec), WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	d := New[[]string](f, nameCodec{}, opts...)
	t.Cleanup(func() { d.Close() })
	if err := d.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return d, rec
}

func TestPayloadStates(t *testing.T) {
	f := newFake()
	f.set(`["a","b"]`, false)
	d, rec := start(t, f)
	if got := get(d); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("initial = %v", got)
	}
	if e := rec.waitKind(t, Loaded); e.Revision != "1" || e.Report == nil || e.Report.Accepted != 2 {
		t.Fatalf("Loaded event = %+v", e)
	}

	steps := []struct {
		name     string
		do       func()
		want     []string
		kind     EventKind
		rejected int
		errIs    error
	}{
		{"partly bad: good rules applied, bad reported", func() { f.set(`["a","","c"]`, true) }, []string{"a", "c"}, Rejected, 1, nil},
		{"unreadable: last good kept", func() { f.set(`{not json`, true) }, []string{"a", "c"}, Unreadable, 1, ErrUnreadable},
		{"valid again", func() { f.set(`["d"]`, true) }, []string{"d"}, Updated, 0, nil},
		{"empty list clears", func() { f.set(`[]`, true) }, []string{}, Updated, 0, nil},
		{"valid after empty", func() { f.set(`["e"]`, true) }, []string{"e"}, Updated, 0, nil},
		{"empty bytes clear", func() { f.set(``, true) }, []string{}, Updated, 0, nil},
		{"re-created", func() { f.set(`["g"]`, true) }, []string{"g"}, Updated, 0, nil},
		{"deleted clears", func() { f.remove(true) }, []string{}, Deleted, 0, nil},
		{"created after delete", func() { f.set(`["h"]`, true) }, []string{"h"}, Updated, 0, nil},
	}
	for _, st := range steps {
		st.do()
		e := rec.waitKind(t, st.kind)
		if got := get(d); !slices.Equal(got, st.want) || got == nil {
			t.Fatalf("%s: property = %#v, want %#v", st.name, got, st.want)
		}
		s := d.Status()
		if s.Rejected != st.rejected {
			t.Errorf("%s: Status.Rejected = %d, want %d", st.name, s.Rejected, st.rejected)
		}
		if st.errIs != nil {
			if !errors.Is(e.Err, st.errIs) || !errors.Is(s.LastError, st.errIs) {
				t.Errorf("%s: event err %v, status err %v; want %v", st.name, e.Err, s.LastError, st.errIs)
			}
		} else if s.LastError != nil {
			t.Errorf("%s: LastError = %v, want nil", st.name, s.LastError)
		}
		if st.errIs == nil && s.RuleCount != len(st.want) {
			t.Errorf("%s: RuleCount = %d, want %d", st.name, s.RuleCount, len(st.want))
		}
	}
	if h := d.Status().Health; h != HealthWatching {
		t.Errorf("Health = %v, want watching", h)
	}
}

func TestRejectedReportNamesTheRule(t *testing.T) {
	f := newFake()
	f.set(`["a",""]`, false)
	_, rec := start(t, f)
	e := rec.waitKind(t, Rejected)
	if e.Report == nil || len(e.Report.Rejected) != 1 || e.Report.Rejected[0].Index != 1 {
		t.Fatalf("report = %+v", e.Report)
	}
}

func TestMissingAtStartStartsEmptyAndKeepsWatching(t *testing.T) {
	f := newFake()
	d, rec := start(t, f)
	v, ok := d.Property().Get()
	if !ok || v == nil || len(v) != 0 {
		t.Fatalf("property = %#v, %v; want set and empty", v, ok)
	}
	if s := d.Status(); s.LastError != nil || s.Exists {
		t.Fatalf("status = %+v", s)
	}
	f.set(`["a"]`, true)
	rec.waitKind(t, Updated)
	if got := get(d); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after create = %v", got)
	}
}

func TestKeepOnDelete(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	d, rec := start(t, f, WithKeepOnDelete())
	f.remove(true)
	rec.waitKind(t, Deleted)
	if got := get(d); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after delete with keep = %v", got)
	}
	if d.Status().Exists {
		t.Error("Status.Exists after delete")
	}
	f.set(`["b"]`, true)
	rec.waitKind(t, Updated)
	if got := get(d); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after re-create = %v", got)
	}
}

func TestDedupe(t *testing.T) {
	f := newFake()
	f.set(`["a","b"]`, false)
	d, rec := start(t, f)
	calls := 0
	d.Property().Subscribe(func([]string) { calls++ })
	calls = 0
	before := len(rec.kinds())

	f.set(`["a","b"]`, true)    // same bytes, new revision
	f.set(`[ "a", "b" ]`, true) // other bytes, equal rules
	f.set(`["z"]`, true)        // marker: once it is applied the two above were processed
	rec.waitKind(t, Updated)
	if calls != 1 {
		t.Fatalf("subscriber called %d times, want 1 (only the marker)", calls)
	}
	if got := rec.kinds()[before:]; !slices.Equal(got, []EventKind{Updated}) {
		t.Fatalf("events = %v, want only the marker's update", got)
	}
	if r := d.Status().Revision; r != "4" {
		t.Fatalf("Revision = %q, want 4", r)
	}
}

func TestStaleRevisionDropped(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	d, rec := start(t, f)
	f.set(`["b"]`, true) // revision 2
	rec.waitKind(t, Updated)
	f.events <- Snapshot{Data: []byte(`["old"]`), Revision: "1", Exists: true}
	f.set(`["c"]`, true) // revision 3, the marker
	rec.waitKind(t, Updated)
	if got := get(d); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("property = %v", got)
	}
	if n := rec.count(Updated); n != 2 {
		t.Fatalf("%d updates, want 2: the stale snapshot must not apply", n)
	}
}

func TestOpaqueRevisionsApplyInArrivalOrder(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	d, rec := start(t, f)
	f.events <- Snapshot{Data: []byte(`["x"]`), Revision: "hash-b", Exists: true}
	rec.waitKind(t, Updated)
	f.events <- Snapshot{Data: []byte(`["y"]`), Revision: "hash-a", Exists: true}
	rec.waitKind(t, Updated)
	if got := get(d); !slices.Equal(got, []string{"y"}) {
		t.Fatalf("property = %v", got)
	}
}

func TestNumericRevisions(t *testing.T) {
	tests := []struct {
		a, b string
		cmp  int
		ok   bool
	}{
		{"9", "10", -1, true},
		{"10", "9", 1, true},
		{"7", "7", 0, true},
		{"abc", "1", 0, false},
		{"", "1", 0, false},
		{"-1", "1", 0, false},
		{"1", "ffff", 0, false},
	}
	for _, tt := range tests {
		c, ok := NumericRevisions(tt.a, tt.b)
		if c != tt.cmp || ok != tt.ok {
			t.Errorf("NumericRevisions(%q, %q) = %d, %v; want %d, %v", tt.a, tt.b, c, ok, tt.cmp, tt.ok)
		}
	}
}

func TestReconnectRereadsAfterWatchError(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	d, rec := start(t, f)
	reads := f.readCount()
	// The value changes while the watch is broken and nobody is told.
	f.setReadErr(errDown)
	f.fail <- errors.New("stream reset")
	rec.waitKind(t, SourceError) // the watch failure
	rec.waitKind(t, SourceError) // the first re-read fails too
	if h := d.Status().Health; h == HealthWatching {
		t.Errorf("Health = %v while the source is down", h)
	}
	f.set(`["b"]`, false)
	f.setReadErr(nil)
	rec.waitKind(t, Reconnected)
	if got := get(d); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after reconnect = %v; the change made during the outage was missed", got)
	}
	if f.readCount() < reads+2 {
		t.Fatalf("reads %d -> %d, want a full re-read after the failures", reads, f.readCount())
	}
	eventually(t, "watching again", func() bool { return d.Status().Health == HealthWatching })
	if d.Status().LastError != nil {
		t.Errorf("LastError after reconnect = %v", d.Status().LastError)
	}
}

func TestStartFailsWithoutSnapshotButKeepsTrying(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	f.setReadErr(errDown)
	rec := newRecorder()
	d := New[[]string](f, nameCodec{}, WithObserver(rec), WithBackoff(time.Millisecond, 2*time.Millisecond))
	defer d.Close()
	err := d.Start(context.Background())
	if !errors.Is(err, errDown) {
		t.Fatalf("Start = %v, want the read error", err)
	}
	if _, ok := d.Property().Get(); ok {
		t.Fatal("property set although nothing could be read")
	}
	f.setReadErr(nil)
	rec.waitKind(t, Reconnected)
	if got := get(d); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after recovery = %v", got)
	}
}

func TestInitialTimeout(t *testing.T) {
	f := newFake()
	f.block = true
	d := New[[]string](f, nameCodec{}, WithInitialTimeout(5*time.Millisecond))
	defer d.Close()
	if err := d.Start(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want deadline exceeded", err)
	}
}

func TestSnapshotDirUsedWhenSourceFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	f := newFake()
	f.set(`["a","b"]`, false)
	d1, _ := start(t, f, WithSnapshotDir(dir), WithName("flow/app:1"))
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snapshotPath(dir, "flow/app:1")); err != nil {
		t.Fatalf("snapshot not written: %v", err)
	}

	down := newFake()
	down.set(`["fresh"]`, false)
	down.setReadErr(errDown)
	rec := newRecorder()
	d2 := New[[]string](down, nameCodec{}, WithSnapshotDir(dir), WithName("flow/app:1"), WithObserver(rec),
		WithBackoff(time.Millisecond, 2*time.Millisecond))
	defer d2.Close()
	if err := d2.Start(context.Background()); err != nil {
		t.Fatalf("Start with snapshot = %v", err)
	}
	if got := get(d2); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("from snapshot = %v", got)
	}
	e := rec.waitKind(t, SnapshotUsed)
	if !errors.Is(e.Err, errDown) {
		t.Errorf("SnapshotUsed event err = %v, want the cause", e.Err)
	}
	if s := d2.Status(); !s.UsingSnapshot || s.RuleCount != 2 {
		t.Errorf("status = %+v", s)
	}
	down.setReadErr(nil)
	rec.waitKind(t, Reconnected)
	if got := get(d2); !slices.Equal(got, []string{"fresh"}) {
		t.Fatalf("after the source came back = %v", got)
	}
	if d2.Status().UsingSnapshot {
		t.Error("still UsingSnapshot after the source answered")
	}
}

func TestSnapshotNotUsedByOtherName(t *testing.T) {
	dir := t.TempDir()
	f := newFake()
	f.set(`["a"]`, false)
	d1, _ := start(t, f, WithSnapshotDir(dir), WithName("flow"))
	d1.Close()
	down := newFake()
	down.setReadErr(errDown)
	d2 := New[[]string](down, nameCodec{}, WithSnapshotDir(dir), WithName("degrade"))
	defer d2.Close()
	if err := d2.Start(context.Background()); !errors.Is(err, errDown) {
		t.Fatalf("Start = %v, want the source error (no snapshot of that name)", err)
	}
}

func TestSnapshotPathDistinct(t *testing.T) {
	names := []string{"a/b", "a_b", "a%2fb", "a.b", ".hidden", "..", "flow", "FLOW", "a b", "ü"}
	seen := map[string]string{}
	for _, n := range names {
		p := snapshotPath("/x", n)
		if prev, dup := seen[p]; dup {
			t.Fatalf("%q and %q share %s", prev, n, p)
		}
		seen[p] = n
		if base := strings.TrimPrefix(p, "/x/"); strings.ContainsAny(base, "/ ") || strings.HasPrefix(base, ".") {
			t.Errorf("unsafe file name %q for %q", base, n)
		}
	}
}

func TestWrite(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	d, rec := start(t, f)
	calls := 0
	d.Property().Subscribe(func([]string) { calls++ })
	calls = 0

	if err := d.Write(context.Background(), []string{"a", "b"}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	// The writer sees its rules at once, not after the echo.
	if got := get(d); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after Write = %v", got)
	}
	rec.waitKind(t, Written)
	stored, _ := f.Read(context.Background())
	if string(stored.Data) != `["a","b"]` {
		t.Fatalf("stored %s", stored.Data)
	}
	// The echo through the watch changes nothing.
	f.events <- stored
	f.set(`["marker"]`, true)
	rec.waitKind(t, Updated)
	if calls != 2 {
		t.Fatalf("subscriber calls = %d, want 2 (write + marker; the echo is a no-op)", calls)
	}
}

func TestWriteErrors(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	d, _ := start(t, f)

	if err := d.Write(context.Background(), []string{"ok", ""}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "empty resource") {
		t.Fatalf("invalid Write = %v, want ErrInvalid naming the rule", err)
	}
	f.set(`["someone else"]`, false) // not yet seen by d
	err := d.Write(context.Background(), []string{"mine"})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale Write = %v, want ErrConflict", err)
	}
	if s, _ := f.Read(context.Background()); string(s.Data) != `["someone else"]` {
		t.Fatalf("conflicting write overwrote: %s", s.Data)
	}

	ro := New[[]string](readOnly{newFake()}, nameCodec{})
	if err := ro.Write(context.Background(), []string{"a"}); !errors.Is(err, ErrNotWritable) {
		t.Fatalf("read-only Write = %v", err)
	}
	if err := Update(context.Background(), ro, func(v []string) ([]string, error) { return v, nil }); !errors.Is(err, ErrNotWritable) {
		t.Fatalf("read-only Update = %v", err)
	}
	d.Close()
	if err := d.Write(context.Background(), []string{"a"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
}

type readOnly struct{ s *fakeSource }

func (r readOnly) Read(ctx context.Context) (Snapshot, error) { return r.s.Read(ctx) }
func (r readOnly) Watch(ctx context.Context, from Snapshot, emit func(Snapshot)) error {
	return r.s.Watch(ctx, from, emit)
}
func (r readOnly) Close() error { return nil }

func TestUpdateConcurrentNeverLosesAWrite(t *testing.T) {
	f := newFake()
	d, _ := start(t, f, WithMaxRetries(200))
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- Update(context.Background(), d, func(cur []string) ([]string, error) {
				return append(cur, "w"+string(rune('A'+i))), nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	s, _ := f.Read(context.Background())
	got, _, err := nameCodec{}.Decode(s.Data)
	if err != nil || len(got) != n {
		t.Fatalf("stored %s (%v): want %d entries", s.Data, err, n)
	}
	for i := range n {
		if !slices.Contains(got, "w"+string(rune('A'+i))) {
			t.Fatalf("write %d lost: %v", i, got)
		}
	}
}

func TestUpdateGivesUpWithConflict(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	d, _ := start(t, f, WithMaxRetries(2))
	attempts := 0
	err := Update(context.Background(), d, func(cur []string) ([]string, error) {
		attempts++
		f.set(`["interloper`+string(rune('0'+attempts))+`"]`, false) // someone always wins the race
		return append(cur, "x"), nil
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Update = %v, want ErrConflict", err)
	}
	if attempts != 3 {
		t.Fatalf("attempts = %d, want 1 + 2 retries", attempts)
	}
}

func TestUpdateReadsFreshValue(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	d, _ := start(t, f)
	f.set(`["b"]`, false) // not yet seen by d's watch
	if err := Update(context.Background(), d, func(cur []string) ([]string, error) {
		if !slices.Equal(cur, []string{"b"}) {
			t.Errorf("fn got %v, want the source's current value", cur)
		}
		return append(cur, "c"), nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := get(d); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("after Update = %v", got)
	}
	wantErr := errors.New("refused")
	if err := Update(context.Background(), d, func([]string) ([]string, error) { return nil, wantErr }); !errors.Is(err, wantErr) {
		t.Fatalf("fn error = %v", err)
	}
}

func TestPollSource(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	d, rec := start(t, f, WithPollInterval(time.Millisecond))
	f.set(`["b"]`, false) // no notification: only polling can find it
	rec.waitKind(t, Updated)
	if got := get(d); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("polled = %v", got)
	}
	f.mu.Lock()
	w := f.watches
	f.mu.Unlock()
	if w != 0 {
		t.Fatalf("native Watch used %d times in polling mode", w)
	}
	if err := d.Write(context.Background(), []string{"c"}); err != nil {
		t.Fatalf("Write through Poll: %v", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		f := newFake()
		f.set(`["a"]`, false)
		d := New[[]string](f, nameCodec{}, WithPollInterval(time.Millisecond))
		if err := d.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		down := newFake()
		down.setReadErr(errDown)
		d2 := New[[]string](down, nameCodec{}, WithBackoff(time.Hour, time.Hour))
		_ = d2.Start(context.Background())
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		d2.Close()
		if !f.closed || !down.closed {
			t.Fatal("source not closed")
		}
		if d.Status().Health != HealthClosed {
			t.Fatalf("Health = %v", d.Status().Health)
		}
	}
	eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

func TestStartTwiceAndAfterClose(t *testing.T) {
	f := newFake()
	d, _ := start(t, f)
	if err := d.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	d.Close()
	if err := d.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	d2 := New[[]string](newFake(), nameCodec{})
	d2.Close()
	if err := d2.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v", err)
	}
}

func TestStartContextCancelDoesNotStopSync(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRecorder()
	d := New[[]string](f, nameCodec{}, WithObserver(rec))
	defer d.Close()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	f.set(`["b"]`, true)
	rec.waitKind(t, Updated)
}

func TestBackoffBounds(t *testing.T) {
	b := backoff{initial: 100 * time.Millisecond, max: 30 * time.Second}
	for n := range 40 {
		d := b.next()
		ceil := 100 * time.Millisecond << min(n, 20)
		ceil = min(ceil, 30*time.Second)
		if d <= 0 || d > ceil {
			t.Fatalf("attempt %d: %v not in (0, %v]", n, d, ceil)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Fatalf("after reset: %v", d)
	}
}

func TestEventKindString(t *testing.T) {
	for k := Loaded; k <= Written; k++ {
		if s := k.String(); s == "" || strings.HasPrefix(s, "EventKind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
	if s := EventKind(99).String(); s != "EventKind(99)" {
		t.Errorf("unknown kind = %q", s)
	}
}

// A change made by someone else right after our write, and applied by the
// watch before our Write returns, must not be hidden by our local apply when
// revisions cannot be ordered.
func TestWriteDoesNotHideLaterChange(t *testing.T) {
	for _, opaque := range []bool{true, false} {
		f := newFake()
		f.opaque = opaque
		f.set(`["a"]`, false)
		d, _ := start(t, f)
		f.hook = func() {
			f.hook = nil
			f.set(`["later"]`, true)
			eventually(t, "the later change to apply", func() bool { return slices.Equal(get(d), []string{"later"}) })
		}
		if err := d.Write(context.Background(), []string{"mine"}); err != nil {
			t.Fatal(err)
		}
		if got := get(d); !slices.Equal(got, []string{"later"}) {
			t.Fatalf("opaque=%v: property = %v, want the later change", opaque, got)
		}
	}
}

// After a reconnect the full read is applied even if its revision looks
// older: the backend may have been rebuilt and restarted its counter.
func TestReconnectAcceptsRestartedRevisions(t *testing.T) {
	f := newFake()
	f.rev = 100
	f.set(`["a"]`, false) // revision 101
	d, rec := start(t, f)
	f.mu.Lock()
	f.rev = 0 // the backend was rebuilt
	f.mu.Unlock()
	f.set(`["rebuilt"]`, false) // revision 1
	f.fail <- errors.New("connection reset")
	rec.waitKind(t, Reconnected)
	if got := get(d); !slices.Equal(got, []string{"rebuilt"}) {
		t.Fatalf("after reconnect = %v, want the rebuilt backend's value", got)
	}
	// Watch events keep being ordered from the new revision on.
	f.set(`["next"]`, true)
	rec.waitKind(t, Updated)
	if got := get(d); !slices.Equal(got, []string{"next"}) {
		t.Fatalf("after the next event = %v", got)
	}
}

type leakySource struct{ *fakeSource }

func (leakySource) Redact(msg string) string { return strings.ReplaceAll(msg, "tok-123", "[token]") }

func TestCredentialsNeverInErrors(t *testing.T) {
	for _, poll := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) { testCredentials(t, poll) })
	}
}

func testCredentials(t *testing.T, poll time.Duration) {
	leak := errors.New("dial redis://user:hunter2@10.0.0.1:6379 with token tok-123: refused")
	f := newFake()
	f.set(`["a"]`, false)
	f.setReadErr(leak)
	rec := newRecorder()
	d := New[[]string](leakySource{f}, nameCodec{}, WithRedact("hunter2"), WithObserver(rec),
		WithBackoff(time.Millisecond, 2*time.Millisecond), WithPollInterval(poll))
	defer d.Close()
	err := d.Start(context.Background())
	if !errors.Is(err, leak) {
		t.Fatalf("Start = %v; the cause must stay reachable with errors.Is", err)
	}
	rec.waitKind(t, SourceError)
	rec.waitKind(t, SourceError) // a background retry too
	msgs := []string{err.Error(), d.Status().LastError.Error()}
	for _, e := range rec.all() {
		if e.Err != nil {
			msgs = append(msgs, e.Err.Error())
		}
	}
	if err := d.Write(context.Background(), []string{"x"}); err != nil {
		msgs = append(msgs, err.Error())
	}
	for _, m := range msgs {
		if strings.Contains(m, "hunter2") || strings.Contains(m, "tok-123") {
			t.Fatalf("secret in %q", m)
		}
	}
	if !strings.Contains(msgs[0], "REDACTED") || !strings.Contains(msgs[0], "[token]") {
		t.Fatalf("message lost its shape: %q", msgs[0])
	}
}

// A late watch echo of an earlier write must not bring back old rules nor make
// the next Write fail with a false conflict (content-hash revisions cannot be
// ordered, so the stale check cannot catch it).
func TestLateEchoOfOwnEarlierWriteIsDropped(t *testing.T) {
	f := newFake()
	f.opaque = true
	f.set(`["base"]`, false)
	d, _ := start(t, f)
	ctx := context.Background()
	if err := d.Write(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	echoA := f.snap
	f.mu.Unlock()
	if err := d.Write(ctx, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	reads := f.readCount()
	f.events <- echoA // the watch delivers the first write late
	eventually(t, "the late echo to be checked", func() bool { return f.readCount() > reads })
	drain(t, f)
	if got := get(d); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("property = %v after a late echo, want [b]", got)
	}
	if err := d.Write(ctx, []string{"c"}); err != nil {
		t.Fatalf("write after a late echo: %v", err)
	}
}

// The same snapshot can also mean that someone restored that content (same
// content hash): then the fresh read shows it and it is applied.
func TestRestoredContentWithOwnOldRevisionIsApplied(t *testing.T) {
	f := newFake()
	f.opaque = true
	f.set(`["base"]`, false)
	d, _ := start(t, f)
	ctx := context.Background()
	if err := d.Write(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	snapA := f.snap
	f.mu.Unlock()
	if err := d.Write(ctx, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	// Another writer puts back exactly the first content: a content-hash
	// source reports the first write's revision again.
	f.mu.Lock()
	f.snap = snapA
	f.mu.Unlock()
	f.events <- snapA
	eventually(t, "the restored content to apply", func() bool { return slices.Equal(get(d), []string{"a"}) })
}

// TestDefaultLoggerIsSlogDefault: without WithLogger a datasource logs
// through slog.Default(), as the engine, ruleapply and the sources do, so
// that a stalled watch is never silent by default.
func TestDefaultLoggerIsSlogDefault(t *testing.T) {
	var buf syncbuf.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	d := New[[]string](newFake(), nameCodec{}, WithName("default-logger"))
	defer d.Close()
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "datasource=default-logger") {
		t.Fatalf("nothing logged through slog.Default(): %q", buf.String())
	}
}

// WriteIf stores a change only if the source still holds what Current
// showed, whether the intervening change was seen by the datasource or not.
func TestCurrentAndWriteIf(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	d, _ := start(t, f)
	v, token := d.Current()
	if len(v) != 0 || token != "" {
		t.Fatalf("missing value: Current = %v %q", v, token)
	}
	rev, err := d.WriteIf(ctx, []string{"a"}, token)
	if err != nil || rev == "" {
		t.Fatalf("WriteIf on a missing value: %q %v", rev, err)
	}
	v, token = d.Current()
	if !slices.Equal(v, []string{"a"}) || token != rev {
		t.Fatalf("Current after WriteIf = %v %q, want [a] %q", v, token, rev)
	}
	// Another writer changes the source; the datasource has not seen it yet.
	f.set(`["other"]`, false)
	if _, err := d.WriteIf(ctx, []string{"a", "b"}, token); !errors.Is(err, ErrConflict) {
		t.Fatalf("WriteIf over an unseen change: %v, want ErrConflict", err)
	}
	// Once seen, the old token still does not match.
	f.set(`["other","seen"]`, true)
	eventually(t, "the change applied", func() bool { return len(get(d)) == 2 })
	if _, err := d.WriteIf(ctx, []string{"a", "b"}, token); !errors.Is(err, ErrConflict) {
		t.Fatalf("WriteIf over a seen change: %v, want ErrConflict", err)
	}
	if got := get(d); !slices.Equal(got, []string{"other", "seen"}) {
		t.Fatalf("a refused write changed the rules in force: %v", got)
	}
	// With the fresh token it goes through.
	_, token = d.Current()
	if _, err := d.WriteIf(ctx, []string{"b"}, token); err != nil {
		t.Fatalf("WriteIf with a fresh token: %v", err)
	}
	if got := get(d); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after WriteIf = %v", got)
	}
}
