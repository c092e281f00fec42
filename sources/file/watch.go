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
	ws := &watchState{dirs: map[string]bool{}}
	// Seed with the directory's real path so that a path whose parent is a
	// symlink (e.g. /var -> /private/var) does not watch one directory twice.
	if real, err := filepath.EvalSymlinks(s.dir); err == nil && real != s.dir {
		ws.dirs[real] = true
	}
	s.follow(w, ws)

	changes := datasource.NewChanges(from, emit)
	check := func() error {
		snap, err := s.Read(ctx)
		if err != nil {
			return err
		}
		s.follow(w, ws) // a symlink may now point elsewhere
		changes.Emit(snap)
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
			if s.relevant(ev.Name, ws) {
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

// watchState is what a Watch follows besides the path's own directory.
type watchState struct {
	dirs   map[string]bool // other directories watched: where symlinks lead
	target string          // the file the path currently resolves to
}

// relevant reports whether an event may concern the file: the path itself,
// the file it resolves to, Kubernetes' "..data" and "..<timestamp>" entries,
// or anything in a directory a symlinked path leads to.
func (s *Source) relevant(name string, ws *watchState) bool {
	if name == ws.target {
		return true
	}
	dir, base := filepath.Dir(name), filepath.Base(name)
	if dir != s.dir {
		return ws.dirs[dir]
	}
	return base == s.base || strings.HasPrefix(base, "..")
}

// follow resolves the path's symlinks and watches the directory of the file
// it leads to, when that is not the path's own directory.
func (s *Source) follow(w *fsnotify.Watcher, ws *watchState) {
	resolved, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return
	}
	ws.target = resolved
	dir := filepath.Dir(resolved)
	if dir == s.dir || ws.dirs[dir] {
		return
	}
	if w.Add(dir) == nil {
		ws.dirs[dir] = true
	}
}
