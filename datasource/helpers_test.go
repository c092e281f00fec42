package datasource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/internal/testcodec"
)

// nameCodec is the datasource tests' codec: a JSON list of resource names.
type nameCodec = testcodec.Names

// fakeSource is an in-memory WritableSource with numeric revisions, a watch
// fed by set/remove, and switches to make Read or Watch fail.
type fakeSource struct {
	mu      sync.Mutex
	snap    Snapshot
	rev     int
	readErr error
	block   bool // Read blocks until ctx ends
	reads   int
	closed  bool
	events  chan Snapshot
	fail    chan error
	watches int
	opaque  bool   // revisions that NumericRevisions cannot order
	hook    func() // runs after a successful Write, outside the lock
}

func (f *fakeSource) revision() string {
	if f.opaque {
		return "r" + strconv.Itoa(f.rev)
	}
	return strconv.Itoa(f.rev)
}

func newFake() *fakeSource {
	return &fakeSource{events: make(chan Snapshot, 64), fail: make(chan error, 1)}
}

func (f *fakeSource) Read(ctx context.Context) (Snapshot, error) {
	f.mu.Lock()
	f.reads++
	block, err, s := f.block, f.readErr, f.snap
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return Snapshot{}, ctx.Err()
	}
	if err != nil {
		return Snapshot{}, err
	}
	return s, nil
}

func (f *fakeSource) Watch(ctx context.Context, from Snapshot, emit func(Snapshot)) error {
	f.mu.Lock()
	f.watches++
	f.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-f.fail:
			return err
		case s := <-f.events:
			emit(s)
		}
	}
}

func (f *fakeSource) Write(_ context.Context, data []byte, expect string) (Snapshot, error) {
	f.mu.Lock()
	if expect != AnyRevision {
		if expect == "" && f.snap.Exists || expect != "" && (!f.snap.Exists || expect != f.snap.Revision) {
			defer f.mu.Unlock()
			return Snapshot{}, fmt.Errorf("fake: have %q, want %q: %w", f.snap.Revision, expect, ErrConflict)
		}
	}
	f.rev++
	f.snap = Snapshot{Data: bytes.Clone(data), Revision: f.revision(), Exists: true}
	s, hook := f.snap, f.hook
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return s, nil
}

func (f *fakeSource) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// set stores data as a new revision, and tells watchers when notify is true.
func (f *fakeSource) set(data string, notify bool) Snapshot {
	f.mu.Lock()
	f.rev++
	f.snap = Snapshot{Data: []byte(data), Revision: f.revision(), Exists: true}
	s := f.snap
	f.mu.Unlock()
	if notify {
		f.events <- s
	}
	return s
}

func (f *fakeSource) remove(notify bool) Snapshot {
	f.mu.Lock()
	f.rev++
	f.snap = Snapshot{Revision: f.revision()}
	s := f.snap
	f.mu.Unlock()
	if notify {
		f.events <- s
	}
	return s
}

func (f *fakeSource) setReadErr(err error) {
	f.mu.Lock()
	f.readErr = err
	f.mu.Unlock()
}

func (f *fakeSource) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// recorder collects events for assertions.
type recorder struct {
	mu     sync.Mutex
	events []Event
	ch     chan Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan Event, 256)} }

func (r *recorder) Observe(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.ch <- e:
	default:
	}
}

// waitKind waits for the next event of kind k, failing the test if none comes.
func (r *recorder) waitKind(t *testing.T, k EventKind) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-r.ch:
			if e.Kind == k {
				return e
			}
		case <-timeout:
			t.Fatalf("no %v event", k)
		}
	}
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) kinds() []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]EventKind, len(r.events))
	for i, e := range r.events {
		out[i] = e.Kind
	}
	return out
}

func (r *recorder) count(k EventKind) int {
	n := 0
	for _, got := range r.kinds() {
		if got == k {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds; the deadline only guards against hangs.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func get(d *DataSource[[]string]) []string {
	v, _ := d.Property().Get()
	return v
}

// sync waits until the watch loop has consumed everything queued so far.
func drain(t *testing.T, f *fakeSource) {
	t.Helper()
	eventually(t, "watch to drain", func() bool { return len(f.events) == 0 })
}

var errDown = errors.New("fake: connection refused")
