package sourcetest

import (
	"context"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
)

// WaitFor bounds how long a Watcher waits for a snapshot or for Watch to end.
const WaitFor = 10 * time.Second

// Watcher runs a source's Watch in the background and hands out what it
// emits, for the tests of each backend.
type Watcher struct {
	ch     chan datasource.Snapshot
	done   chan error
	err    error
	ended  bool
	cancel context.CancelFunc
}

// Watch starts s.Watch from from; the watch is stopped when t ends.
func Watch(t testing.TB, s datasource.Source, from datasource.Snapshot) *Watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{ch: make(chan datasource.Snapshot, 100), done: make(chan error, 1), cancel: cancel}
	go func() { w.done <- s.Watch(ctx, from, func(s datasource.Snapshot) { w.ch <- s }) }()
	t.Cleanup(func() {
		cancel()
		if _, ok := w.wait(WaitFor); !ok {
			t.Error("Watch did not return after cancel")
		}
	})
	return w
}

// wait waits up to d for Watch to return and remembers how it ended.
func (w *Watcher) wait(d time.Duration) (error, bool) {
	if w.ended {
		return w.err, true
	}
	select {
	case w.err = <-w.done:
		w.ended = true
		return w.err, true
	case <-time.After(d):
		return nil, false
	}
}

// Stop cancels the watch's context.
func (w *Watcher) Stop() { w.cancel() }

// Next returns the next emitted snapshot, failing t when Watch ends or
// nothing comes within WaitFor.
func (w *Watcher) Next(t testing.TB) datasource.Snapshot {
	t.Helper()
	select {
	case s := <-w.ch:
		return s
	case err := <-w.done:
		w.err, w.ended = err, true
		t.Fatalf("watch ended: %v", err)
	case <-time.After(WaitFor):
		t.Fatal("no snapshot emitted in time")
	}
	return datasource.Snapshot{}
}

// None fails t if a snapshot is emitted within d.
func (w *Watcher) None(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case s := <-w.ch:
		t.Fatalf("unexpected snapshot %+v", s)
	case <-time.After(d):
	}
}

// Running fails t if Watch has returned.
func (w *Watcher) Running(t testing.TB) {
	t.Helper()
	if err, ended := w.wait(0); ended {
		t.Fatalf("Watch ended: %v", err)
	}
}

// End waits for Watch to return on its own and returns its error, failing t
// when it keeps running past WaitFor.
func (w *Watcher) End(t testing.TB) error {
	t.Helper()
	err, ok := w.wait(WaitFor)
	if !ok {
		t.Fatal("Watch kept running")
	}
	return err
}
