// Package fsutil holds the file-system care of the file source and the
// datasource's local snapshots: writes that readers and crashes see whole or
// not at all, and a lock that excludes other processes and ends with a
// context.
package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteAtomic writes data to a temporary file beside target, syncs it, and
// renames it over target, then syncs the directory so that the rename
// survives a crash.
func WriteAtomic(target string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	SyncDir(dir)
	return nil
}

// SyncDir makes a rename or removal in dir durable. Not every platform can
// sync a directory; the content itself is already synced, so failures are
// ignored.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
