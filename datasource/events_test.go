package datasource

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/internal/syncbuf"
)

// startLogged starts a datasource on f whose log lines go to the returned buffer.
func startLogged(t *testing.T, f *fakeSource, opts ...Option) (*DataSource[[]string], *recorder, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rec := newRecorder()
	opts = append([]Option{WithName("ds-under-test"), WithObserver(rec), WithLogger(logger), WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	d := New[[]string](f, nameCodec{}, opts...)
	t.Cleanup(func() { d.Close() })
	_ = d.Start(context.Background()) // an unreadable payload at start is an error the tests look at themselves
	return d, rec, logs
}

// linesWith returns the log lines that contain s.
func linesWith(logs *syncbuf.Buffer, s string) []string {
	var out []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// Every event kind whose Report the docs promise carries one, also for a
// value that does not exist (observers call Report.String() unguarded).
func TestEventsForAMissingValueCarryAReport(t *testing.T) {
	f := newFake()
	_, rec := start(t, f)
	if e := rec.waitKind(t, Loaded); e.Report == nil {
		t.Fatalf("Loaded of a missing value has no Report: %+v", e)
	}
	f.set(`["a"]`, true)
	rec.waitKind(t, Updated)
	f.remove(true)
	if e := rec.waitKind(t, Deleted); e.Report == nil {
		t.Fatalf("Deleted has no Report: %+v", e)
	}
}

// A change that leaves a family without rules is logged at WARN with the
// number of rules it removed, and Status says so until rules come back.
func TestClearingEveryRuleIsAWarningInLogsAndStatus(t *testing.T) {
	f := newFake()
	f.set(`["a","b"]`, false)
	d, rec, logs := startLogged(t, f)
	rec.waitKind(t, Loaded)

	f.set(``, true) // a file truncated to 0 bytes
	rec.waitKind(t, Updated)
	lines := linesWith(logs, "removed=2")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") {
		t.Fatalf("clearing 2 rules: want one WARN line with removed=2, got %q\nlogs:\n%s", lines, logs)
	}
	if s := d.Status(); s.Cleared != 2 || s.RuleCount != 0 {
		t.Fatalf("Status after clearing: Cleared %d, RuleCount %d; want 2, 0", s.Cleared, s.RuleCount)
	}

	f.set(`[]`, true) // still empty: nothing more removed, the last clear still explains the empty set
	drain(t, f)
	eventually(t, "the [] revision", func() bool { return d.Status().Revision == "3" })
	if s := d.Status(); s.Cleared != 2 {
		t.Fatalf("Status.Cleared after a second empty payload = %d, want 2 still", s.Cleared)
	}
	f.set(`["c"]`, true)
	rec.waitKind(t, Updated)
	if s := d.Status(); s.Cleared != 0 {
		t.Fatalf("Status.Cleared with rules in force = %d, want 0", s.Cleared)
	}

	f.remove(true)
	rec.waitKind(t, Deleted)
	if lines := linesWith(logs, "removed=1"); len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") {
		t.Fatalf("deleting 1 rule: want one WARN line with removed=1, got %q", lines)
	}
	if s := d.Status(); s.Cleared != 1 {
		t.Fatalf("Status.Cleared after delete = %d, want 1", s.Cleared)
	}
}

// While the source holds a payload that cannot be read, Status names both the
// revision of the rules in force and the newest revision with its error.
func TestStatusTellsTheRevisionInForceFromTheLatest(t *testing.T) {
	f := newFake()
	good := f.set(`["a"]`, false)
	d, rec, _ := startLogged(t, f)
	rec.waitKind(t, Loaded)
	if s := d.Status(); s.Revision != good.Revision || s.LatestRevision != good.Revision || s.LatestError != nil {
		t.Fatalf("after a good load: %+v", s)
	}

	bad := f.set(`{broken`, true)
	rec.waitKind(t, Unreadable)
	s := d.Status()
	if s.Revision != good.Revision || s.RuleCount != 1 {
		t.Errorf("in force: revision %q with %d rules, want %q with 1", s.Revision, s.RuleCount, good.Revision)
	}
	if s.LatestRevision != bad.Revision || !errors.Is(s.LatestError, ErrUnreadable) {
		t.Errorf("latest: revision %q, error %v; want %q, unreadable", s.LatestRevision, s.LatestError, bad.Revision)
	}

	fixed := f.set(`["b"]`, true)
	rec.waitKind(t, Updated)
	if s := d.Status(); s.Revision != fixed.Revision || s.LatestRevision != fixed.Revision || s.LatestError != nil {
		t.Fatalf("after the fix: %+v", s)
	}
}

// An unreadable payload at start has no previous rules to keep: the log must
// not claim that any stay in force.
func TestUnreadableAtStartDoesNotClaimPreviousRules(t *testing.T) {
	f := newFake()
	f.set(`{broken`, false)
	d, _, logs := startLogged(t, f)
	lines := linesWith(logs, "unreadable")
	if len(lines) != 1 {
		t.Fatalf("want one line about the unreadable payload, got %q", lines)
	}
	for _, claim := range []string{"keeping", "stay", "last good", "previous"} {
		if strings.Contains(lines[0], claim) {
			t.Errorf("line claims rules in force (%q) when there are none: %s", claim, lines[0])
		}
	}
	if !strings.Contains(lines[0], "no rules") {
		t.Errorf("line does not say that no rules are in force: %s", lines[0])
	}
	if s := d.Status(); s.RuleCount != 0 || s.Revision != "" || s.LatestRevision == "" {
		t.Errorf("status = %+v", s)
	}
}

// One event, one log line: a partly rejected payload prints its report once,
// an unreadable one its error once, and no line repeats the revision or the
// datasource's name.
func TestOneLogLinePerEvent(t *testing.T) {
	f := newFake()
	f.opaque = true // revisions like "r2", which a line can be searched for
	f.set(`["a",""]`, false)
	_, rec, logs := startLogged(t, f)
	rec.waitKind(t, Rejected)
	if n := len(linesWith(logs, "empty resource")); n != 1 {
		t.Errorf("a partly rejected payload: report in %d lines, want 1\n%s", n, logs)
	}

	bad := f.set(`{broken`, true)
	rec.waitKind(t, Unreadable)
	if n := len(linesWith(logs, "invalid character")); n != 1 {
		t.Errorf("an unreadable payload: error in %d lines, want 1\n%s", n, logs)
	}
	for _, l := range linesWith(logs, bad.Revision) {
		if strings.Count(l, bad.Revision) > 1 || strings.Count(l, "ds-under-test") > 1 {
			t.Errorf("line repeats the revision or the name: %s", l)
		}
	}

	fixed := f.set(`["b"]`, true)
	rec.waitKind(t, Updated)
	if n := len(linesWith(logs, fixed.Revision)); n != 1 {
		t.Errorf("an apply: %d lines, want 1\n%s", n, logs)
	}
}
