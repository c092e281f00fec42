package datasource

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rulesync/rulesync/internal/fsutil"
)

// snapshotPath maps a datasource name to a file name that is safe on every
// file system: anything outside [A-Za-z0-9._-] is hex-escaped, so two distinct
// names never share a file.
func snapshotPath(dir, name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.' && i > 0, c == '-', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	if b.Len() == 0 {
		b.WriteByte('%') // no escaped name is a lone '%'
	}
	return filepath.Join(dir, b.String()+".snapshot")
}

// writeSnapshot replaces the snapshot atomically: a reader (or a crash) sees
// either the old payload or the new one, never a torn file.
func writeSnapshot(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("snapshot dir: %w", err)
	}
	target := snapshotPath(dir, name)
	if err := fsutil.WriteAtomic(target, data, 0o644); err != nil {
		return fmt.Errorf("snapshot %s: %w", target, err)
	}
	return nil
}

func readSnapshot(dir, name string) ([]byte, error) {
	return os.ReadFile(snapshotPath(dir, name))
}
