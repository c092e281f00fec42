package datasource

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestResyncCatchesStalledWatch: the value changes and the watch never says
// so (a lost notification). The resync read applies the change, and the
// watch is restarted as broken.
func TestResyncCatchesStalledWatch(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	d, rec := start(t, f, WithResync(20*time.Millisecond))
	f.set(`["b"]`, false) // nobody is told
	eventually(t, "the resync to apply the missed change", func() bool {
		return slices.Equal(get(d), []string{"b"})
	})
	e := rec.waitKind(t, SourceError)
	if !errors.Is(e.Err, errWatchMissed) {
		t.Fatalf("SourceError %v, want the missed-change error", e.Err)
	}
	rec.waitKind(t, Reconnected)
	eventually(t, "a second watch", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.watches >= 2
	})
	// The new watch works: a notified change arrives through it.
	f.set(`["c"]`, true)
	eventually(t, "the new watch to deliver", func() bool { return slices.Equal(get(d), []string{"c"}) })
}

// TestResyncLeavesWorkingWatchAlone: when the watch delivers every change, the
// resync reads find nothing to do and never restart it.
func TestResyncLeavesWorkingWatchAlone(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	// The period leaves a loaded machine time to deliver a notification
	// before the next read: one still missing then counts as missed.
	d, rec := start(t, f, WithResync(25*time.Millisecond))
	for _, v := range []string{`["b"]`, `["c"]`, `["d"]`} {
		f.set(v, true)
		time.Sleep(75 * time.Millisecond) // several resync periods
	}
	eventually(t, "the last change", func() bool { return slices.Equal(get(d), []string{"d"}) })
	if n := f.readCount(); n < 5 {
		t.Fatalf("%d reads: the resync did not run", n)
	}
	if n := rec.count(SourceError); n != 0 {
		t.Fatalf("%d SourceError events with a working watch: %v", n, rec.all())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watches != 1 {
		t.Fatalf("%d watches, want the first one kept", f.watches)
	}
}

// TestResyncOff: without the option nothing but the watch reads the source.
func TestResyncOff(t *testing.T) {
	f := newFake()
	f.set(`["a"]`, false)
	_, _ = start(t, f)
	reads := f.readCount()
	time.Sleep(30 * time.Millisecond)
	if f.readCount() != reads {
		t.Fatalf("reads %d -> %d without WithResync", reads, f.readCount())
	}
}

// TestResyncWaitsForANotificationOnItsWay: a read that finds a change before
// the watch delivered it is only suspect; when the notification then arrives,
// nothing is restarted.
func TestResyncWaitsForANotificationOnItsWay(t *testing.T) {
	const period = 100 * time.Millisecond
	f := newFake()
	f.set(`["a"]`, false)
	d, rec := start(t, f, WithResync(period))
	reads := f.readCount()
	s := f.set(`["b"]`, false) // stored; its notification is late
	eventually(t, "a resync read to see the change", func() bool { return f.readCount() > reads })
	f.events <- s
	eventually(t, "the late notification", func() bool { return slices.Equal(get(d), []string{"b"}) })
	time.Sleep(3 * period)
	if n := rec.count(SourceError); n != 0 {
		t.Fatalf("%d SourceError events for a notification that was only late: %v", n, rec.all())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watches != 1 {
		t.Fatalf("%d watches, want the first one kept", f.watches)
	}
}
