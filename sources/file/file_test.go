package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/datasource"
)

var bg = context.Background()

func TestNewRejectsBadPaths(t *testing.T) {
	if _, err := New(""); err == nil {
		t.Error("empty path accepted")
	}
	if _, err := New(t.TempDir()); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory accepted: %v", err)
	}
}

func TestRead(t *testing.T) {
	path := tempPath(t)
	s := newSource(t, path, WithMaxSize(16))

	snap, err := s.Read(bg)
	if err != nil || snap.Exists || snap.Revision != "" {
		t.Fatalf("missing file: %+v, %v", snap, err)
	}
	mustWrite(t, path, `["a"]`)
	snap, err = s.Read(bg)
	if err != nil || !snap.Exists || string(snap.Data) != `["a"]` || snap.Revision != datasource.ContentRevision([]byte(`["a"]`)) {
		t.Fatalf("present file: %+v, %v", snap, err)
	}
	if datasource.ContentRevision([]byte(`["a"]`)) == datasource.ContentRevision([]byte(`["b"]`)) {
		t.Fatal("different content, same revision")
	}
	mustWrite(t, path, strings.Repeat("x", 17))
	_, err = s.Read(bg)
	if !errors.Is(err, datasource.ErrTooLarge) || !strings.Contains(err.Error(), "17 bytes") || !strings.Contains(err.Error(), "16 bytes") {
		t.Fatalf("oversize file: %v; want ErrTooLarge naming size and limit", err)
	}
	if _, err := s.Write(bg, []byte(strings.Repeat("y", 17)), datasource.AnyRevision); !errors.Is(err, datasource.ErrTooLarge) {
		t.Fatalf("oversize write: %v", err)
	}
	s.Close()
	if _, err := s.Read(bg); !errors.Is(err, datasource.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
}

func TestWriteCompareAndSet(t *testing.T) {
	path := tempPath(t)
	s := newSource(t, path)
	a := []byte(`["a"]`)

	snap, err := s.Write(bg, a, "")
	if err != nil || snap.Revision != datasource.ContentRevision(a) || !snap.Exists {
		t.Fatalf("create: %+v, %v", snap, err)
	}
	tests := []struct {
		name    string
		expect  string
		wantErr error
	}{
		{"must-not-exist on existing file", "", datasource.ErrConflict},
		{"stale revision", datasource.ContentRevision([]byte("old")), datasource.ErrConflict},
		{"current revision", datasource.ContentRevision(a), nil},
		{"any revision", datasource.AnyRevision, nil},
	}
	for _, tt := range tests {
		data := []byte(fmt.Sprintf(`[%q]`, tt.name))
		before, _ := os.ReadFile(path)
		_, err := s.Write(bg, data, tt.expect)
		after, _ := os.ReadFile(path)
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
		switch {
		case err != nil && string(after) != string(before):
			t.Fatalf("%s: refused write changed the file", tt.name)
		case err == nil && string(after) != string(data):
			t.Fatalf("%s: file holds %s", tt.name, after)
		}
		if err == nil {
			a = data // the next case "current revision" must follow the file
		}
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left over %s", e.Name())
		}
	}
}

func TestWriteKeepsModeAndSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real", "rules.json")
	os.MkdirAll(filepath.Dir(real), 0o755)
	mustWrite(t, real, `[]`)
	if err := os.Chmod(real, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "rules.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, link)
	cur, _ := s.Read(bg)
	if _, err := s.Write(bg, []byte(`["x"]`), cur.Revision); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced by a file: %v", err)
	}
	if b, _ := os.ReadFile(real); string(b) != `["x"]` {
		t.Fatalf("target holds %s", b)
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600 kept", fi.Mode().Perm())
	}

	fresh := newSource(t, filepath.Join(dir, "new.json"), WithFileMode(0o640))
	if _, err := fresh.Write(bg, []byte(`[]`), ""); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh.Path()); fi.Mode().Perm() != 0o640 {
		t.Fatalf("new file mode = %v, want 0640", fi.Mode().Perm())
	}
}

func TestDelete(t *testing.T) {
	path := tempPath(t)
	s := newSource(t, path)
	snap, _ := s.Write(bg, []byte(`["a"]`), "")
	if err := s.Delete(bg, datasource.ContentRevision([]byte("other"))); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	if err := s.Delete(bg, snap.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
	if err := s.Delete(bg, ""); err != nil {
		t.Fatalf("deleting a missing file with \"\": %v", err)
	}
	if err := s.Delete(bg, snap.Revision); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("deleting a missing file expecting a revision: %v", err)
	}
}

func TestLockHonorsContext(t *testing.T) {
	path := tempPath(t)
	s := newSource(t, path)
	other := newSource(t, path) // another Source: only the file lock stands between them
	unlock, err := s.lock(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := other.Write(ctx, []byte(`[]`), datasource.AnyRevision); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write while locked elsewhere: %v, want context.Canceled", err)
	}
}
