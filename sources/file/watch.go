package file

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/rulesync/rulesync/datasource"
)

// Watch watches the file's directory and emits a snapshot whenever the
// content hash (or the file's existence) differs from the last one emitted,
// starting from from. It returns when ctx ends, when the Source is closed, or
// with an error when the directory goes away or the watcher fails; the sync
// loop then re-reads and watches again.
func (s *Source) Watch(ctx context.Context, from datasource.Snapshot, emit func(datasource.Snapshot)) error {
	if s.closed.Load() {
		return fmt.Errorf("file %s: %w", s.path, datasource.ErrClosed)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("file %s: watch: %w", s.path, err)
	}
	defer w.Close()
	if err := w.Add(s.dir); err != nil {
		return fmt.Errorf("file %s: watch %s: %w", s.path, s.dir, err)
	}
	// Seed with the directory's real path so that a path whose parent is a
	// symlink (e.g. /var -> /private/var) does not watch one directory twice.
	targets := map[string]bool{}
	if real, err := filepath.EvalSymlinks(s.dir); err == nil && real != s.dir {
		targets[real] = true
	}
	s.watchTargetDir(w, targets)

	last := from
	check := func() error {
		snap, err := s.Read(ctx)
		if err != nil {
			return err
		}
		s.watchTargetDir(w, targets) // a symlink may now point elsewhere
		if snap.Exists != last.Exists || snap.Revision != last.Revision {
			last = snap
			emit(snap)
		}
		return nil
	}
	// The file may have changed between the caller's Read and the watch
	// being in place; that change would otherwise go unnoticed.
	if err := check(); err != nil {
		return err
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var pendingSince time.Time
	arm := func() {
		now := time.Now()
		if pendingSince.IsZero() {
			pendingSince = now
		} else if now.Sub(pendingSince) > 5*s.debounce {
			return // a steady stream of events must not postpone the read forever
		}
		timer.Reset(s.debounce)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return fmt.Errorf("file %s: %w", s.path, datasource.ErrClosed)
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("file %s: watcher closed", s.path)
			}
			if ev.Name == s.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				return fmt.Errorf("file %s: directory %s was removed or moved", s.path, s.dir)
			}
			if s.relevant(ev.Name, targets) {
				arm()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("file %s: watcher closed", s.path)
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				arm() // events were lost; a re-read catches up
				continue
			}
			return fmt.Errorf("file %s: watch: %w", s.path, err)
		case <-timer.C:
			pendingSince = time.Time{}
			if err := check(); err != nil {
				return err
			}
		}
	}
}

// relevant reports whether an event may concern the file: the file itself,
// Kubernetes' "..data" and "..<timestamp>" entries, or anything in the
// directory a symlinked path resolves to.
func (s *Source) relevant(name string, targets map[string]bool) bool {
	dir, base := filepath.Dir(name), filepath.Base(name)
	if dir != s.dir {
		return targets[dir]
	}
	return base == s.base || strings.HasPrefix(base, "..")
}

// watchTargetDir adds the directory of the file a symlinked path resolves to,
// when it is not the path's own directory.
func (s *Source) watchTargetDir(w *fsnotify.Watcher, targets map[string]bool) {
	resolved, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return
	}
	dir := filepath.Dir(resolved)
	if dir == s.dir || targets[dir] {
		return
	}
	if w.Add(dir) == nil {
		targets[dir] = true
	}
}
