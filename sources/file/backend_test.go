package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/sources/file"
)

func TestBackendOpensFromParams(t *testing.T) {
	dir := t.TempDir()
	b := file.Backend()
	p := b.DataID(datasource.Params{"dir": dir, "max-size": "10"}, "app-flow-rules")
	if want := filepath.Join(dir, "app-flow-rules.json"); p["file"] != want {
		t.Fatalf("DataID file = %q, want %q", p["file"], want)
	}
	if err := os.WriteFile(p["file"], []byte("[1,2,3,4,5,6]"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := datasource.Backends{b}.Open(context.Background(), "file", p)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Read(context.Background()); !errors.Is(err, datasource.ErrTooLarge) {
		t.Fatalf("max-size=10 not applied: %v", err)
	}
	if _, err := (datasource.Backends{b}).Open(context.Background(), "file", datasource.Params{"file": "x", "debounce": "soon"}); !errors.Is(err, datasource.ErrBadParams) {
		t.Fatalf("bad debounce: %v", err)
	}
}
