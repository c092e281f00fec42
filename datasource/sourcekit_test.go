package datasource_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
)

func TestCheckExpected(t *testing.T) {
	cur := datasource.ContentSnapshot([]byte("[1]"))
	for _, tt := range []struct {
		name   string
		cur    datasource.Snapshot
		expect string
		ok     bool
	}{
		{"any over a value", cur, datasource.AnyRevision, true},
		{"any over nothing", datasource.Snapshot{}, datasource.AnyRevision, true},
		{"create where nothing is", datasource.Snapshot{}, "", true},
		{"create where a value is", cur, "", false},
		{"update the value read", cur, cur.Revision, true},
		{"update a stale value", cur, datasource.ContentRevision([]byte("[0]")), false},
		{"update what was deleted", datasource.Snapshot{}, cur.Revision, false},
	} {
		err := datasource.CheckExpected("key k", tt.cur, tt.expect)
		if (err == nil) != tt.ok || err != nil && (!errors.Is(err, datasource.ErrConflict) || !strings.HasPrefix(err.Error(), "key k: ")) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestChangesDropsSameState(t *testing.T) {
	var got []string
	a := datasource.ContentSnapshot([]byte("a"))
	c := datasource.NewChanges(a, func(s datasource.Snapshot) { got = append(got, string(s.Data)) })
	c.Emit(a)
	c.Emit(datasource.ContentSnapshot([]byte("b")))
	c.Emit(datasource.ContentSnapshot([]byte("b")))
	c.Emit(datasource.Snapshot{})
	c.Emit(datasource.Snapshot{Revision: "ignored for absent keys"})
	// Same revision number, other bytes: another store's history.
	c.Emit(datasource.Snapshot{Data: []byte("x"), Revision: "7", Exists: true})
	c.Emit(datasource.Snapshot{Data: []byte("y"), Revision: "7", Exists: true})
	if want := "b,,x,y"; strings.Join(got, ",") != want {
		t.Fatalf("emitted %q, want %q", strings.Join(got, ","), want)
	}
	if string(c.Last().Data) != "y" {
		t.Fatalf("Last = %q", c.Last().Data)
	}
}

func TestSilence(t *testing.T) {
	s := datasource.NewSilence(time.Millisecond)
	defer s.Stop()
	<-s.C()
	if err := s.Elapsed("w"); err != nil || !s.Checking() {
		t.Fatalf("first quiet period: %v, checking %v", err, s.Checking())
	}
	s.Heard()
	if s.Checking() {
		t.Fatal("an answer did not end the check")
	}
	<-s.C()
	if err := s.Elapsed("w"); err != nil {
		t.Fatal(err)
	}
	<-s.C()
	if err := s.Elapsed("watch of k"); !errors.Is(err, datasource.ErrSilent) || !strings.Contains(err.Error(), "watch of k") {
		t.Fatalf("unanswered check: %v", err)
	}
}

func TestSecrets(t *testing.T) {
	s := datasource.Secrets{"", "hunter2", "tok"}
	base := errors.New("auth hunter2 failed for tok")
	err := s.Error(fmt.Errorf("dial: %w", base))
	if err.Error() != "dial: auth REDACTED failed for REDACTED" || !errors.Is(err, base) {
		t.Fatalf("Error = %v (chain kept: %v)", err, errors.Is(err, base))
	}
	if clean := errors.New("nothing secret"); s.Error(clean) != clean {
		t.Fatal("an error without secrets was wrapped")
	}
	if s.Error(nil) != nil {
		t.Fatal("nil became an error")
	}
}
