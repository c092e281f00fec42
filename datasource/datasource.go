package datasource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/property"
)

// Health is the state of a datasource's connection to its source.
type Health int

// Health values.
const (
	HealthIdle       Health = iota // not started
	HealthConnecting               // reading the full value
	HealthWatching                 // watching for changes
	HealthBackingOff               // waiting before the next attempt after a failure
	HealthClosed                   // closed
)

// String returns a short lower-case name such as "watching".
func (h Health) String() string {
	switch h {
	case HealthIdle:
		return "idle"
	case HealthConnecting:
		return "connecting"
	case HealthWatching:
		return "watching"
	case HealthBackingOff:
		return "backing-off"
	case HealthClosed:
		return "closed"
	}
	return fmt.Sprintf("Health(%d)", int(h))
}

// Status is a point-in-time view of a datasource.
type Status struct {
	Name string
	// Revision is the revision of the payload whose rules are in force: the
	// last one applied from the source or a write. It is empty before
	// anything was applied and while the rules came from the local snapshot.
	Revision string
	Exists   bool // whether that payload had a value (a deletion kept by WithKeepOnDelete counts as applied)
	// LatestRevision is the revision of the newest snapshot taken from the
	// source. It equals Revision unless the source now holds a payload that
	// could not be applied; LatestError then says why, until a later
	// snapshot is applied. Writes compare and set against this revision.
	LatestRevision string
	LatestError    error
	// LastSuccess is when a value was last applied from the source or a write.
	LastSuccess time.Time
	// LastError is the most recent failure (read, watch, decode); a later
	// successful load clears it. Sources keep credentials out of their errors.
	LastError error
	RuleCount int // rules in force (see Counter)
	Rejected  int // rules left out of the last applied payload
	// Cleared is, while no rules are in force because a change removed every
	// rule (an empty payload, one whose every rule was rejected, a deletion),
	// how many rules that change removed; 0 while rules are in force.
	Cleared       int
	Health        Health
	UsingSnapshot bool // the rules in force came from the local snapshot, not the source
}

// Counter may be implemented by a Codec to count the rules of a value. Without
// it, slices, maps and arrays count their elements and other types count 0.
type Counter[T any] interface {
	Count(v T) int
}

// DataSource keeps a Property in sync with a Source through a Codec. Create it
// with New, call Start once, and Close when done.
type DataSource[T any] struct {
	src   Source
	codec codec.Codec[T]
	o     options
	log   *slog.Logger
	prop  *property.Property[T]

	// applyMu serializes every change of the applied state, whether it comes
	// from the watch loop or from a Write, so that updates reach the property in
	// one order.
	applyMu sync.Mutex
	seen    Snapshot // last snapshot taken from the source (or written); Data is our copy
	seenSet bool
	gen     uint64 // bumped whenever seen takes new content
	// resyncGen is gen when a resync read first found the source holding
	// something else (see resyncOnce).
	resyncGen uint64
	// ownWrites holds the revisions of this datasource's recent writes, oldest
	// first, to recognise a late echo of an earlier write (see lateEcho).
	ownWrites []string
	haveGood  bool // the property holds a value from the source or the snapshot

	statusMu sync.Mutex
	status   Status

	lifeMu  sync.Mutex
	started bool
	closed  atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a datasource reading src through codec. Nothing happens until Start.
func New[T any](src Source, codec codec.Codec[T], opts ...Option) *DataSource[T] {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.pollInterval > 0 {
		src = Poll(src, o.pollInterval)
	}
	log := o.logger
	if log == nil {
		log = slog.Default()
	}
	d := &DataSource[T]{
		src:   src,
		codec: codec,
		o:     o,
		log:   log.With("datasource", o.name),
		prop:  property.New(property.WithEqual(codec.Equal)),
	}
	d.status = Status{Name: o.name, Health: HealthIdle}
	return d
}

// Property returns the property that holds the rules in force.
func (d *DataSource[T]) Property() *property.Property[T] { return d.prop }

// Name returns the datasource's name.
func (d *DataSource[T]) Name() string { return d.o.name }

// Status returns the current status.
func (d *DataSource[T]) Status() Status {
	d.statusMu.Lock()
	defer d.statusMu.Unlock()
	return d.status
}

// Start reads the source once, bounded by ctx and WithInitialTimeout, applies
// what it finds, and then keeps the property in sync in a background goroutine
// until Close. ctx only bounds the initial load; cancelling it later does not
// stop the background sync.
//
// A missing key starts empty without error. When the source cannot be read (or
// its payload cannot be decoded) and a snapshot from WithSnapshotDir exists,
// the snapshot is applied and Start returns nil; otherwise Start returns the
// error. In both cases the datasource keeps trying the source in the background,
// so call Close even when Start fails.
func (d *DataSource[T]) Start(ctx context.Context) error {
	d.lifeMu.Lock()
	if d.closed.Load() {
		d.lifeMu.Unlock()
		return fmt.Errorf("datasource %q: %w", d.o.name, ErrClosed)
	}
	if d.started {
		d.lifeMu.Unlock()
		return fmt.Errorf("datasource %q: already started", d.o.name)
	}
	d.started = true
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	d.done = make(chan struct{})
	d.lifeMu.Unlock()

	d.setHealth(HealthConnecting)
	rctx, rcancel := context.WithTimeout(ctx, d.o.initialTimeout)
	snap, err := d.src.Read(rctx)
	rcancel()
	connected := err == nil
	var startErr error
	if connected {
		startErr = d.apply(snap)
	} else {
		startErr = d.sourceError("initial read", err)
	}
	if startErr != nil && d.o.snapshotDir != "" && !d.hasGood() {
		if d.loadSnapshot(startErr) {
			startErr = nil
		}
	}
	go d.run(loopCtx, connected)
	return startErr
}

func (d *DataSource[T]) hasGood() bool {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	return d.haveGood
}

// run is the sync loop: watch, and after any failure back off, read the full
// value again and watch from there.
func (d *DataSource[T]) run(ctx context.Context, connected bool) {
	defer close(d.done)
	bo := backoff{initial: d.o.backoffInitial, max: d.o.backoffMax}
	needRead, failed := !connected, !connected
	if needRead {
		d.setHealth(HealthBackingOff)
		if !sleep(ctx, bo.next()) {
			return
		}
	}
	for {
		if needRead {
			d.setHealth(HealthConnecting)
			s, err := d.src.Read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				d.sourceError("read", err)
				d.setHealth(HealthBackingOff)
				if !sleep(ctx, bo.next()) {
					return
				}
				continue
			}
			d.applyMu.Lock()
			_ = d.applyLocked(s, true) // failures are recorded in Status and events
			d.applyMu.Unlock()
			if failed {
				d.log.Info("reconnected", "revision", s.Revision)
				d.emit(Event{Kind: Reconnected, Revision: s.Revision})
				failed = false
			}
			needRead = false
		}
		d.setHealth(HealthWatching)
		began := time.Now()
		var emitted atomic.Bool
		wctx, stopWatch := context.WithCancelCause(ctx)
		resyncDone := d.startResync(wctx, stopWatch)
		err := d.src.Watch(wctx, d.from(), func(s Snapshot) {
			emitted.Store(true)
			_ = d.applyWatched(ctx, s)
		})
		stopWatch(nil)
		<-resyncDone
		if ctx.Err() != nil {
			return
		}
		if cause := context.Cause(wctx); errors.Is(cause, errWatchMissed) {
			err = cause
		}
		if err == nil {
			err = errors.New("watch ended")
		}
		// A watch that worked for a while earns a fresh backoff; one that fails
		// at once keeps growing it.
		if emitted.Load() || time.Since(began) > d.o.backoffMax {
			bo.reset()
		}
		d.sourceError("watch", err)
		failed = true
		d.setHealth(HealthBackingOff)
		if !sleep(ctx, bo.next()) {
			return
		}
		needRead = true
	}
}

// errWatchMissed ends a watch that a resync read caught missing a change.
var errWatchMissed = errors.New("a resync read found a change the watch did not deliver")

// startResync runs the WithResync reads while a watch runs; the returned
// channel closes when they stop (when ctx ends). A change the watch missed
// is applied and ends the watch through stop.
func (d *DataSource[T]) startResync(ctx context.Context, stop context.CancelCauseFunc) <-chan struct{} {
	done := make(chan struct{})
	if d.o.resync <= 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		t := time.NewTicker(d.o.resync)
		defer t.Stop()
		suspect := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			switch d.resyncOnce(ctx, suspect) {
			case resyncApplied:
				stop(errWatchMissed)
				return
			case resyncSuspect:
				suspect = true
			default:
				suspect = false
			}
		}
	}()
	return done
}

// resyncResult is what one resync read found.
type resyncResult int

const (
	resyncInSync  resyncResult = iota // the source holds what was applied
	resyncSuspect                     // it holds something else: maybe a change whose notification is on its way
	resyncApplied                     // it still did one period later: the watch missed it, and the read was applied
)

// resyncOnce reads the source and compares it with what was applied. A
// difference is only suspect at first, since the watch may be about to
// deliver it; when the previous read was suspect too and the watch has
// applied nothing in between, the watch missed the change: the read is
// applied. A read during which the watch applied something is discarded: it
// may predate what was applied.
func (d *DataSource[T]) resyncOnce(ctx context.Context, suspect bool) resyncResult {
	d.applyMu.Lock()
	gen := d.gen
	d.applyMu.Unlock()
	s, err := d.src.Read(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("resync read failed; the watch goes on", "err", d.redact(err))
		}
		return resyncInSync
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	if d.gen != gen || !d.seenSet || s.Exists == d.seen.Exists && bytes.Equal(s.Data, d.seen.Data) {
		return resyncInSync
	}
	if !suspect || d.gen != d.resyncGen {
		d.resyncGen = d.gen
		return resyncSuspect
	}
	d.log.Warn("resync read found a change the watch missed; restarting the watch", "revision", s.Revision, "applied", d.seen.Revision)
	_ = d.applyLocked(s, true)
	return resyncApplied
}

func (d *DataSource[T]) from() Snapshot {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	return d.seen
}

// apply takes one snapshot through dedupe, ordering and decoding into the
// property. It returns the decode error of an unreadable payload.
func (d *DataSource[T]) apply(s Snapshot) error {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	return d.applyLocked(s, false)
}

// maxOwnWrites bounds how many of its own write revisions a datasource remembers.
const maxOwnWrites = 8

// rememberWrite records the revision of a write this datasource made. Call
// with applyMu held.
func (d *DataSource[T]) rememberWrite(rev string) {
	if len(d.ownWrites) == maxOwnWrites {
		d.ownWrites = append(d.ownWrites[:0], d.ownWrites[1:]...)
	}
	d.ownWrites = append(d.ownWrites, rev)
}

// lateEcho reports whether s looks like the watch echo of one of our earlier
// writes arriving after a later write of ours was applied. Only revisions that
// cannot be ordered (content hashes) need this: ordered ones are dropped as
// stale anyway. Call with applyMu held.
func (d *DataSource[T]) lateEcho(s Snapshot) bool {
	if !d.seenSet || s.Revision == d.seen.Revision {
		return false
	}
	if _, ok := d.o.order(s.Revision, d.seen.Revision); ok {
		return false
	}
	i := slices.Index(d.ownWrites, s.Revision)
	j := slices.Index(d.ownWrites, d.seen.Revision)
	return i >= 0 && j > i
}

// applyWatched applies a snapshot delivered by the watch. A late echo of an
// earlier write of ours would briefly bring back old rules and make the next
// Write fail with a false conflict; but with content-hash revisions the same
// snapshot could also be someone restoring that content. One fresh read tells
// the two apart, and its answer is applied as authoritative.
func (d *DataSource[T]) applyWatched(ctx context.Context, s Snapshot) error {
	d.applyMu.Lock()
	if !d.lateEcho(s) {
		defer d.applyMu.Unlock()
		return d.applyLocked(s, false)
	}
	d.applyMu.Unlock()
	fresh, err := d.src.Read(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.sourceError("read after a late echo", err)
		}
		return err
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	return d.applyLocked(fresh, true)
}

// applyLocked does apply's work with applyMu held. A full read is
// authoritative: it skips the stale check, so that a backend whose revisions
// restarted (a rebuilt etcd cluster) is not ignored forever.
func (d *DataSource[T]) applyLocked(s Snapshot, fullRead bool) error {
	if d.seenSet {
		if !fullRead && d.older(s.Revision) {
			d.log.Debug("dropped stale snapshot", "revision", s.Revision, "applied", d.seen.Revision)
			return nil
		}
		if s.Exists == d.seen.Exists && bytes.Equal(s.Data, d.seen.Data) {
			// Same content (e.g. our own write's echo): nothing to apply, but a
			// newer revision must be remembered so that the next Write expects it.
			if s.Revision != d.seen.Revision {
				d.seen.Revision = s.Revision
				d.updateStatus(func(st *Status) {
					if st.LatestError == nil {
						st.Revision = s.Revision // the same payload, so the same rules, are in force
					}
					st.LatestRevision = s.Revision
				})
			}
			return nil
		}
	}
	d.seen = Snapshot{Data: bytes.Clone(s.Data), Revision: s.Revision, Exists: s.Exists}
	d.seenSet = true
	d.gen++
	before := d.Status().RuleCount

	if !s.Exists {
		rep := d.emptyReport()
		if d.haveGood && d.o.keepOnDelete {
			d.updateStatus(func(st *Status) {
				st.Revision, st.Exists, st.LatestRevision, st.LatestError = s.Revision, false, s.Revision, nil
				st.LastError, st.LastSuccess = nil, time.Now()
			})
			rep.Notes = append(rep.Notes, "value deleted; the rules in force are kept (WithKeepOnDelete)")
			d.log.Info("source value deleted; keeping the rules in force", "rules", before)
			d.emit(Event{Kind: Deleted, Revision: s.Revision, Report: &rep})
			return nil
		}
		first := !d.haveGood
		if first {
			rep.Notes = append(rep.Notes, "no value at the source: starting empty")
		} else {
			rep.Notes = append(rep.Notes, "value deleted: rules cleared")
		}
		d.publish(d.emptyValue(), rep, s, nil, before)
		switch {
		case first:
			d.log.Info("no value at the source yet; starting with no rules and watching for one")
			d.emit(Event{Kind: Loaded, Revision: s.Revision, Report: &rep})
		case before > 0:
			d.log.Warn("source value deleted; every rule cleared", "removed", before)
			d.emit(Event{Kind: Deleted, Revision: s.Revision, Report: &rep})
		default:
			d.log.Info("source value deleted; there were no rules to clear")
			d.emit(Event{Kind: Deleted, Revision: s.Revision, Report: &rep})
		}
		return nil
	}

	v, rep, err := d.codec.Decode(s.Data)
	if err != nil {
		full := fmt.Errorf("datasource %q: revision %q: %w", d.o.name, s.Revision, err)
		var inForce string
		d.updateStatus(func(st *Status) {
			st.LatestRevision, st.LatestError, st.LastError = s.Revision, full, full
			inForce = st.Revision
		})
		// The logger already names the datasource and the line the revision:
		// err is the decoder's own message. The line comes before the event,
		// so that an observer that reacts to the event finds it logged.
		if d.haveGood {
			d.log.Error("payload unreadable; the rules in force stay", "revision", s.Revision, "rules", before, "in_force", inForce, "err", err)
		} else {
			d.log.Error("payload unreadable; no rules are in force, none were loaded yet", "revision", s.Revision, "err", err)
		}
		d.emit(Event{Kind: Unreadable, Revision: s.Revision, Err: full})
		return full
	}
	first := !d.haveGood
	changed := d.publish(v, rep, s, s.Data, before)
	d.logApplied(s.Revision, d.count(v), before, rep, changed || first)
	r := rep
	switch {
	case first:
		d.emit(Event{Kind: Loaded, Revision: s.Revision, Report: &r})
	case changed:
		d.emit(Event{Kind: Updated, Revision: s.Revision, Report: &r})
	}
	if len(rep.Rejected) > 0 {
		d.emit(Event{Kind: Rejected, Revision: s.Revision, Report: &r})
	}
	return nil
}

// logApplied writes the one line of an applied payload. The Rejected event
// that may come with a Loaded or Updated one is the same apply and gets no
// line of its own; the report is printed here, once.
func (d *DataSource[T]) logApplied(rev string, n, before int, rep codec.Report, changed bool) {
	attrs := []any{"revision", rev, "rules", n}
	noisy := len(rep.Rejected) > 0 || len(rep.UnknownKeys) > 0
	if noisy || len(rep.Notes) > 0 {
		attrs = append(attrs, "report", rep.String())
	}
	switch {
	case changed && n == 0 && before > 0:
		d.log.Warn("every rule cleared", append(attrs, "removed", before)...)
	case !changed && noisy:
		d.log.Warn("rules unchanged; the payload has problems", attrs...)
	case !changed:
		d.log.Debug("rules unchanged", attrs...)
	case len(rep.Rejected) > 0:
		d.log.Warn("rules applied; some rules rejected", attrs...)
	case noisy:
		d.log.Warn("rules applied; some keys unknown", attrs...)
	default:
		d.log.Info("rules applied", attrs...)
	}
}

// publish hands v to the property and records success. persist, when not nil,
// is the payload to keep in the snapshot dir; before is the number of rules
// in force until now.
func (d *DataSource[T]) publish(v T, rep codec.Report, s Snapshot, persist []byte, before int) bool {
	changed := d.prop.Update(v)
	d.haveGood = true
	n := d.count(v)
	d.updateStatus(func(st *Status) {
		st.Revision, st.Exists = s.Revision, s.Exists
		st.LatestRevision, st.LatestError = s.Revision, nil
		st.LastSuccess, st.LastError = time.Now(), nil
		st.RuleCount, st.Rejected = n, len(rep.Rejected)
		switch {
		case n > 0:
			st.Cleared = 0
		case before > 0:
			st.Cleared = before
		}
		st.UsingSnapshot = false
	})
	if d.o.snapshotDir != "" {
		if err := writeSnapshot(d.o.snapshotDir, d.o.name, persist); err != nil {
			d.log.Warn("could not write local snapshot", "err", err)
		}
	}
	return changed
}

// older reports whether rev is older than the applied revision. Call with applyMu held.
func (d *DataSource[T]) older(rev string) bool {
	c, ok := d.o.order(rev, d.seen.Revision)
	return ok && c < 0
}

// loadSnapshot applies the local snapshot after the source failed at start.
func (d *DataSource[T]) loadSnapshot(cause error) bool {
	data, err := readSnapshot(d.o.snapshotDir, d.o.name)
	if err != nil {
		d.log.Warn("no usable local snapshot", "err", err)
		return false
	}
	v, rep, err := d.codec.Decode(data)
	if err != nil {
		d.log.Warn("local snapshot unreadable", "err", err)
		return false
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	if d.haveGood {
		return true // the source came back in the meantime
	}
	d.prop.Update(v)
	d.haveGood = true
	n := d.count(v)
	d.updateStatus(func(st *Status) {
		st.RuleCount, st.Rejected, st.UsingSnapshot = n, len(rep.Rejected), true
	})
	r := rep
	d.log.Warn("source unavailable at start; using local snapshot", "err", cause)
	d.emit(Event{Kind: SnapshotUsed, Report: &r, Err: cause})
	return true
}

// sourceError records that op (a read, a watch) failed with err, and
// returns the error as Status and the event carry it.
func (d *DataSource[T]) sourceError(op string, err error) error {
	full := d.redact(fmt.Errorf("datasource %q: %s: %w", d.o.name, op, err))
	d.updateStatus(func(st *Status) { st.LastError = full })
	d.log.Warn("source failed", "op", op, "err", d.redact(err))
	d.emit(Event{Kind: SourceError, Err: full})
	return full
}

func (d *DataSource[T]) setHealth(h Health) {
	d.updateStatus(func(st *Status) {
		if st.Health != HealthClosed {
			st.Health = h
		}
	})
}

func (d *DataSource[T]) updateStatus(f func(*Status)) {
	d.statusMu.Lock()
	f(&d.status)
	d.statusMu.Unlock()
}

func (d *DataSource[T]) emit(e Event) {
	if len(d.o.observers) == 0 {
		return
	}
	e.Name, e.Time = d.o.name, time.Now()
	for _, o := range d.o.observers {
		o.Observe(e)
	}
}

// emptyReport is the report of an empty payload, for a value that does not exist.
func (d *DataSource[T]) emptyReport() codec.Report {
	_, rep, err := d.codec.Decode(nil)
	if err != nil {
		return codec.Report{}
	}
	return rep
}

// emptyValue is what a cleared rule set looks like: the codec's decoding of an
// empty payload (a fresh, non-nil value each time), or the zero value.
func (d *DataSource[T]) emptyValue() T {
	v, _, err := d.codec.Decode(nil)
	if err != nil {
		var zero T
		return zero
	}
	return v
}

func (d *DataSource[T]) count(v T) int {
	if c, ok := any(d.codec).(Counter[T]); ok {
		return c.Count(v)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len()
	}
	return 0
}

// Close stops the background sync, waits for it to end and closes the source.
// It is safe to call more than once.
func (d *DataSource[T]) Close() error {
	d.lifeMu.Lock()
	if d.closed.Swap(true) {
		d.lifeMu.Unlock()
		return nil
	}
	started := d.started
	d.lifeMu.Unlock()
	if started {
		d.cancel()
		<-d.done
	}
	d.updateStatus(func(st *Status) { st.Health = HealthClosed })
	return d.src.Close()
}
